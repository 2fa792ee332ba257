"""Synthetic bank + ledger data with ground truth, for the demo, the tests and the benchmarks.

:func:`generate` is deterministic from its seed. The bulk (one bank row per ledger entry, with
realistic descriptors, references and date lags) is drawn with numpy in one pass; the special
scenarios (processor payouts, split payments, wire fees, typos, duplicates, pending rows,
reversals, bank-only and ledger-only items, same-amount decoys) are added per kind. ``truth``
says which bank row belongs with which ledger entry and why, so any engine can be scored.

Truth rows: one per true link (a group of one bank deposit and 15 sales is 15 rows with one
``group_id``). Items that should stay unlinked (bank-only fees, outstanding checks, duplicate
deliveries, pending rows, reversals) have a row with an empty id on the other side.
"""

from recon.synth.fixtures import (
    LEDGER_CSV_COLUMNS,
    to_plaid_fixtures,
    write_ledger_csv,
    write_trial_balance,
)
from recon.synth.scenarios import (
    DEMO_OPENING_MINOR,
    MAX_WIRE_FEE_UNITS,
    SCENARIOS,
    TRUTH_COLUMNS,
    PlaidItem,
    SynthAccount,
    SynthData,
    demo_accounts,
    demo_dataset,
    demo_items,
    generate,
)

__all__ = [
    "DEMO_OPENING_MINOR",
    "LEDGER_CSV_COLUMNS",
    "MAX_WIRE_FEE_UNITS",
    "SCENARIOS",
    "TRUTH_COLUMNS",
    "PlaidItem",
    "SynthAccount",
    "SynthData",
    "demo_accounts",
    "demo_dataset",
    "demo_items",
    "generate",
    "to_plaid_fixtures",
    "write_ledger_csv",
    "write_trial_balance",
]
