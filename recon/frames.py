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

from recon.records import (
    ALTERNATIVE_COLUMNS,
    DISCREPANCY_COLUMNS,
    LINK_COLUMNS,
    Kind,
    Status,
)

__all__ = [
    "ALTERNATIVE_COLUMNS",
    "BANK_COLUMNS",
    "CHECK_NUMBER",
    "DISCREPANCY_COLUMNS",
    "DISCREPANCY_KINDS",
    "LEDGER_COLUMNS",
    "LINK_COLUMNS",
    "LINK_STATUSES",
    "PARTNER_ONLY",
    "PAYMENT_DETAILS",
    "MatchResult",
    "cell_date",
]

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

# Optional in the bank frame (recon.bankfile fills them; a frame without them is read as ""):
# Plaid's check_number, and payment_meta's reason (the payer's remittance text). The engine looks
# for ledger references in them (recon.engine.references); the check pass also reads "CHECK
# 1043" / "CHK #1043" from the description.
CHECK_NUMBER: Final = "check_number"
PAYMENT_DETAILS: Final = "payment_details"

# Optional in both frames: True for a row loaded from before the window only as a possible
# partner of rows in it. The engine links such rows with rows of the window, but reports no link
# or open item made of such rows alone (an earlier night reported those).
PARTNER_ONLY: Final = "partner_only"

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

# The engine's output columns, statuses and kinds are defined by the records in recon.records.
LINK_STATUSES: Final[tuple[str, ...]] = tuple(status.value for status in Status)
DISCREPANCY_KINDS: Final[tuple[str, ...]] = tuple(kind.value for kind in Kind)


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
    links: pd.DataFrame  # LINK_COLUMNS (recon.records.Link)
    discrepancies: pd.DataFrame  # DISCREPANCY_COLUMNS (recon.records.Discrepancy)
    alternatives: pd.DataFrame  # ALTERNATIVE_COLUMNS (recon.records.Alternative)


def keep_recent_or_carried(
    frame: pd.DataFrame, id_column: str, carried: frozenset[str], since: pd.Timestamp
) -> pd.DataFrame:
    """Rows dated ``since`` or later, and older rows that are carried open items."""
    keep = (frame["date"] >= since) | frame[id_column].isin(carried)
    return frame[keep].reset_index(drop=True)


def mark_partners(
    frame: pd.DataFrame, id_column: str, carried: frozenset[str], window_start: date
) -> pd.DataFrame:
    """PARTNER_ONLY: rows dated before the window that are not carried open items."""
    early = (frame["date"] < pd.Timestamp(window_start)) & ~frame[id_column].isin(carried)
    return frame.assign(**{PARTNER_ONLY: early.to_numpy(dtype=bool)})
