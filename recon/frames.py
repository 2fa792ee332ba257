"""The shapes of the data that flows between recon's parts.

Bank and ledger data travel as pandas DataFrames with the columns below; money is int64 minor
units in recon's house sign (positive = money into the bank account) and dates are
``datetime64[ns]`` at midnight (no time zone: the bank's calendar day). The engine's output is a
:class:`MatchResult` of three frames. ``recon match``, the reports and the store all read these
names, so change them here or nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import pandas as pd

BANK_COLUMNS: Final = (
    "transaction_id",  # Plaid transaction_id (posted id for posted rows)
    "account",  # ledger account the Plaid account maps to (config.accounts)
    "plaid_account_id",
    "currency",  # ISO 4217, upper case
    "amount_minor",  # int64, house sign
    "date",  # posted date (pending: the date it occurred)
    "authorized_date",  # may be NaT
    "description",  # Plaid name / original_description
    "counterparty",  # merchant_name or first counterparty name, "" if none
    "reference",  # payment_meta.reference_number or extracted reference, "" if none
    "pending",  # bool; pending rows are reported, never auto-matched
    "pending_transaction_id",  # "" if none
)

LEDGER_COLUMNS: Final = (
    "entry_id",
    "account",
    "currency",
    "amount_minor",  # int64, house sign (a receipt into the bank account is positive)
    "date",
    "description",
    "reference",
    "counterparty",
)

LINK_COLUMNS: Final = (
    "match_id",  # stable: derived from the ids in the group
    "bank_transaction_id",
    "ledger_entry_id",
    "status",  # matched | matched_with_difference | suggested
    "rule",
    "score",  # 0..1, higher is better (a float: it is not money)
    "amount_difference_minor",  # bank minus ledger, for the group (same on every row of a group)
    "date_difference_days",  # bank date minus ledger date
    "account",
    "currency",
    "explanation",
)

DISCREPANCY_COLUMNS: Final = (
    "discrepancy_id",  # stable across runs: derived from kind, side and ids
    "kind",
    "side",  # bank | ledger | both
    "bank_transaction_id",  # "" when not applicable
    "ledger_entry_id",  # "" when not applicable
    "account",
    "date",
    "amount_minor",  # the open amount; for amount_mismatch, bank minus ledger
    "currency",
    "age_days",
    "description",
    "explanation",
    "nearest_candidate",  # id of the nearest other-side item, "" if none
)

# Alternatives recorded for suggested links: the other candidates a human should consider.
ALTERNATIVE_COLUMNS: Final = (
    "match_id",
    "bank_transaction_id",
    "ledger_entry_id",
    "score",
)

LINK_STATUSES: Final = ("matched", "matched_with_difference", "suggested")
DISCREPANCY_KINDS: Final = (
    "unmatched_bank",
    "unmatched_ledger",
    "amount_mismatch",
    "probable_duplicate",
    "reversal",
    "pending",
)


def cell_date(value: Any) -> date | None:
    """A frame cell (Timestamp, date, text or missing) as a date, or None when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


@dataclass(frozen=True)
class MatchResult:
    links: pd.DataFrame  # LINK_COLUMNS
    discrepancies: pd.DataFrame  # DISCREPANCY_COLUMNS
    alternatives: pd.DataFrame  # ALTERNATIVE_COLUMNS
