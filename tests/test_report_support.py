"""Hand-built MatchResults and report inputs shared by the report, store and annotation tests.

(No tests here: the engine is built separately, so these frames follow recon/frames.py by hand.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, insert

from recon.carry import CarryForward
from recon.config import AlertThreshold
from recon.errors import RowProblem
from recon.frames import ALTERNATIVE_COLUMNS, DISCREPANCY_COLUMNS, LINK_COLUMNS, MatchResult
from recon.reporting.model import AccountInfo, ItemHealth, ReportInputs
from recon.store.schema import runs

AS_OF = date(2024, 3, 15)
XSS = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
FORMULA = '=HYPERLINK("http://x","y")'
TEMPLATE_INJECTION = "{{7*7}}"


def frame(columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    records = [dict(row) for row in rows]
    data = pd.DataFrame(records, columns=list(columns))
    if "date" in data.columns:
        data["date"] = pd.to_datetime(data["date"])
    return data


def link(match_id: str, bank: str, ledger: str, status: str = "matched", *, difference: int = 0,
         account: str = "ops-usd", currency: str = "USD", rule: str = "exact",
         score: float = 1.0, days: int = 0, explanation: str = "same amount and date"
         ) -> dict[str, Any]:
    return {"match_id": match_id, "bank_transaction_id": bank, "ledger_entry_id": ledger,
            "status": status, "rule": rule, "score": score, "amount_difference_minor": difference,
            "date_difference_days": days, "account": account, "currency": currency,
            "explanation": explanation}


def discrepancy(discrepancy_id: str, kind: str, amount: int, *, side: str = "bank",
                bank: str = "", ledger: str = "", account: str = "ops-usd",
                currency: str = "USD", age: int = 2, description: str = "",
                explanation: str = "no candidate within tolerance", nearest: str = "",
                as_of: date = AS_OF) -> dict[str, Any]:
    return {"discrepancy_id": discrepancy_id, "kind": kind, "side": side,
            "bank_transaction_id": bank, "ledger_entry_id": ledger, "account": account,
            "date": as_of - timedelta(days=age), "amount_minor": amount, "currency": currency,
            "age_days": age, "description": description, "explanation": explanation,
            "nearest_candidate": nearest}


def result(links: Iterable[Mapping[str, Any]] = (),
           discrepancies: Iterable[Mapping[str, Any]] = (),
           alternatives: Iterable[Mapping[str, Any]] = ()) -> MatchResult:
    return MatchResult(
        links=frame(LINK_COLUMNS, links),
        discrepancies=frame(DISCREPANCY_COLUMNS, discrepancies),
        alternatives=frame(ALTERNATIVE_COLUMNS, alternatives),
    )


def sample_result(description: str = "Card payment ACME") -> MatchResult:
    """Two accounts whose tie-out is fully explained (see sample_movements)."""
    return result(
        links=[
            link("m-b1", "b1", "l1"),
            link("m-b2", "b2", "l2", "matched_with_difference", difference=50, rule="fee",
                 score=0.93, explanation="bank fee 0.50"),
            link("m-b5", "b5", "l5", "suggested", rule="fuzzy", score=0.71, days=2,
                 explanation="two candidates score alike"),
            link("m-y1", "y1", "ly1", account="ops-jpy", currency="JPY"),
        ],
        discrepancies=[
            discrepancy("d-b3", "unmatched_bank", 2000, bank="b3", age=1, description=description,
                        nearest="l9"),
            discrepancy("d-p1", "pending", 500, bank="p1", age=0, description="pending card"),
            discrepancy("d-l3", "unmatched_ledger", 3000, side="ledger", ledger="l3", age=12,
                        description="Invoice 77"),
            discrepancy("d-b4", "amount_mismatch", -200, side="both", bank="b4", ledger="l4",
                        age=5, description="Transfer", explanation="bank 10.00 vs ledger 12.00"),
            discrepancy("d-y2", "unmatched_bank", 5000, bank="y2", account="ops-jpy",
                        currency="JPY", age=40, description="Tokyo wire"),
        ],
        alternatives=[{"match_id": "m-b5", "bank_transaction_id": "b5", "ledger_entry_id": "l1",
                       "score": 0.70}],
    )


SAMPLE_ACCOUNTS = (
    AccountInfo("ops-usd", "Operating USD", "USD"),
    AccountInfo("ops-jpy", "Operating JPY", "JPY"),
)
# bank: b1 100.00 + b2 50.00 + b3 20.00 + p1 5.00 + b4 10.00 + b5 7.00
# ledger: l1 100.00 + l2 49.50 + l3 30.00 + l4 12.00 + l5 7.00
SAMPLE_BANK = {"ops-usd": 19_200, "ops-jpy": 6_200}
SAMPLE_LEDGER = {"ops-usd": 19_850, "ops-jpy": 1_200}


def inputs(match_result: MatchResult, carry: CarryForward | None = None, *,
           as_of: date = AS_OF, run_id: str = "run-1", account_set: str = "operating",
           threshold: AlertThreshold | None = None,
           rejected: tuple[RowProblem, ...] = ()) -> ReportInputs:
    return ReportInputs(
        run_id=run_id,
        as_of=as_of,
        window_start=as_of - timedelta(days=45),
        window_end=as_of,
        generated_at=datetime(2024, 3, 16, 5, 30, tzinfo=UTC),
        account_set=account_set,
        accounts=SAMPLE_ACCOUNTS,
        result=match_result,
        carry_forward=carry or CarryForward.without_history(as_of, match_result),
        bank_movement_minor=SAMPLE_BANK,
        ledger_movement_minor=SAMPLE_LEDGER,
        plaid_balance_minor={"ops-usd": 1_234_567, "ops-jpy": None},
        item_health=(
            ItemHealth("First Platypus Bank", "item-1", datetime(2024, 3, 16, 5, 0, tzinfo=UTC),
                       "active"),
            ItemHealth("Tartan Bank", "item-2", None, "needs_relink"),
        ),
        rejected_rows=rejected,
        threshold=threshold or AlertThreshold(),
    )


def insert_run(connection: Connection, run_id: str, as_of: date) -> None:
    now = datetime(2024, 3, 16, 5, 0, tzinfo=UTC)
    connection.execute(insert(runs).values(
        run_id=run_id, kind="run", as_of=as_of, state="saving", heartbeat_at=now,
        started_at=now, timings_json="{}", counts_json="{}", config_hash="c" * 32,
        code_version="test"))
