"""Hand-built MatchResults and report inputs shared by the report, store and annotation tests.

(No tests here: the engine is built separately, so these frames follow recon/frames.py by hand.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, insert

from recon.carry import CarryForward
from recon.config import AlertThreshold, StatementConfig
from recon.errors import RowProblem
from recon.frames import (
    ALTERNATIVE_COLUMNS,
    BANK_COLUMNS,
    DISCREPANCY_COLUMNS,
    LEDGER_COLUMNS,
    LINK_COLUMNS,
    MatchResult,
)
from recon.reporting.model import AccountInfo, Balance, ItemHealth, ReportInputs
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
                        nearest="l3"),
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


def bank_row(transaction_id: str, amount: int, description: str = "", *, age: int = 2,
             account: str = "ops-usd", currency: str = "USD", pending: bool = False,
             as_of: date = AS_OF) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "account": account,
            "plaid_account_id": "p-" + account,
            "currency": currency, "amount_minor": amount, "date": as_of - timedelta(days=age),
            "authorized_date": None, "description": description or f"BANK {transaction_id}",
            "counterparty": "", "reference": "", "pending": pending,
            "pending_transaction_id": ""}


def ledger_row(entry_id: str, amount: int, description: str = "", *, age: int = 2,
               account: str = "ops-usd", currency: str = "USD", as_of: date = AS_OF
               ) -> dict[str, Any]:
    return {"entry_id": entry_id, "account": account, "currency": currency,
            "amount_minor": amount, "date": as_of - timedelta(days=age),
            "description": description or f"Ledger {entry_id}", "reference": "",
            "counterparty": ""}


def bank_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    data = frame(BANK_COLUMNS, rows)
    data["authorized_date"] = pd.to_datetime(data["authorized_date"])
    return data


def ledger_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return frame(LEDGER_COLUMNS, rows)


def sample_bank(description: str = "Card payment ACME") -> pd.DataFrame:
    return bank_frame([
        bank_row("b1", 10_000, "ACH CREDIT NORTHWIND"), bank_row("b2", 5_000, "WIRE LITWARE"),
        bank_row("b3", 2_000, description, age=1), bank_row("p1", 500, "pending card", age=0,
                                                             pending=True),
        bank_row("b4", 1_000, "Transfer", age=5), bank_row("b5", 700, "SQ *COFFEE", age=2),
        bank_row("y1", 1_200, "TOKYO CARD", account="ops-jpy", currency="JPY"),
        bank_row("y2", 5_000, "Tokyo wire", age=40, account="ops-jpy", currency="JPY"),
    ])


def sample_ledger() -> pd.DataFrame:
    return ledger_frame([
        ledger_row("l1", 10_000, "Northwind invoice"), ledger_row("l2", 4_950, "Litware"),
        ledger_row("l3", 3_000, "Invoice 77", age=12), ledger_row("l4", 1_200, "Transfer", age=5),
        ledger_row("l5", 700, "Coffee"), ledger_row("ly1", 1_200, "Tokyo card",
                                                    account="ops-jpy", currency="JPY"),
    ])


SAMPLE_ACCOUNTS = (
    AccountInfo("ops-usd", "Operating USD", "USD"),
    AccountInfo("ops-jpy", "Operating JPY", "JPY"),
)
# bank: b1 100.00 + b2 50.00 + b3 20.00 + p1 5.00 + b4 10.00 + b5 7.00
# ledger: l1 100.00 + l2 49.50 + l3 30.00 + l4 12.00 + l5 7.00
SAMPLE_BANK = {"ops-usd": 19_200, "ops-jpy": 6_200}
SAMPLE_LEDGER = {"ops-usd": 19_850, "ops-jpy": 1_200}
# Balances that tie: both sides were 1,000.00 (JPY 100,000) before these rows; the pending
# p1 is not in the bank's balance.
SAMPLE_BANK_BALANCE = {"ops-usd": Balance(118_700, "bank statement"),
                       "ops-jpy": Balance(106_200, "bank statement")}
SAMPLE_BOOKS_BALANCE = {"ops-usd": Balance(119_850, "trial balance"),
                        "ops-jpy": Balance(101_200, "trial balance")}
SAMPLE_STATEMENT = StatementConfig(functional_currency="USD", fx_rates={"JPY": Decimal("0.0067")})


def inputs(match_result: MatchResult, carry: CarryForward | None = None, *,
           as_of: date = AS_OF, run_id: str = "run-1", account_set: str = "operating",
           threshold: AlertThreshold | None = None,
           rejected: tuple[RowProblem, ...] = (), bank: pd.DataFrame | None = None,
           ledger: pd.DataFrame | None = None,
           books: Mapping[str, Balance] | None = None) -> ReportInputs:
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
        bank=sample_bank() if bank is None else bank,
        ledger=sample_ledger() if ledger is None else ledger,
        bank_balance=SAMPLE_BANK_BALANCE,
        books_balance=SAMPLE_BOOKS_BALANCE if books is None else books,
        statement=SAMPLE_STATEMENT,
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
        run_id=run_id, kind="run", as_of=as_of, state="succeeded", exit_code=0,
        heartbeat_at=now,
        started_at=now, timings_json="{}", counts_json="{}", config_hash="c" * 32,
        code_version="test"))


# LibreOffice keeps the cached values of an .xlsx unless told to recalculate on load.
_RECALCULATE_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


# CSV as shown on screen (formatted numbers), UTF-8, comma-separated: the first sheet only.
_FILTERS = {"csv": "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true"}


def libreoffice_convert(source: Path, out_dir: Path, fmt: str, profile: Path) -> Path:
    """``source`` recalculated by LibreOffice and saved as ``fmt`` (csv: the first sheet)."""
    import shutil
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        import pytest

        pytest.skip("LibreOffice (soffice) is not installed; the recalculation test needs it")
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_RECALCULATE_ALWAYS)
    subprocess.run(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
         "--convert-to", _FILTERS.get(fmt, fmt), "--outdir", str(out_dir), str(source)],
        check=True, capture_output=True, timeout=240,
        env={**os.environ, "HOME": str(profile)},
    )
    return out_dir / f"{source.stem}.{fmt.split(':')[0]}"


def statement_differences(csv_path: Path) -> list[str]:
    """The Difference cells of a Statement sheet exported as CSV, as shown."""
    import csv

    with csv_path.open(newline="", encoding="utf-8") as handle:
        return [row[1] for row in csv.reader(handle)
                if row and row[0].startswith("Difference (adjusted bank")]
