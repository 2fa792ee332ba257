"""Money is conserved: per account, bank total − ledger total is fully explained by the result.

This is the identity the report's tie-out shows as "unexplained difference 0.00": group
differences of links, plus open bank items, minus open ledger items, plus mismatches (whose amount
is bank minus ledger).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from recon import synth
from recon.config import load_config
from recon.engine import reconcile

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("as_of", [date(2026, 11, 20), date(2026, 3, 1)])
def test_every_minor_unit_is_explained_per_account(as_of: date) -> None:
    data = synth.demo_dataset(as_of)
    matching = load_config(REPO / "config.yaml", environ={}).matching
    result = reconcile(data.bank, data.ledger, matching, as_of=as_of)

    assert (result.discrepancies["kind"] == "amount_mismatch").any()
    for account in sorted(set(data.bank["account"]) | set(data.ledger["account"])):
        bank_total = int(data.bank.loc[data.bank["account"] == account, "amount_minor"].sum())
        ledger_total = int(data.ledger.loc[data.ledger["account"] == account, "amount_minor"].sum())
        links = result.links[result.links["account"] == account]
        explained = int(links.drop_duplicates("match_id")["amount_difference_minor"].sum())
        open_items = result.discrepancies[result.discrepancies["account"] == account]
        for side, amount in zip(open_items["side"], open_items["amount_minor"], strict=True):
            explained += int(amount) if side in ("bank", "both") else -int(amount)
        assert bank_total - ledger_total == explained, account
