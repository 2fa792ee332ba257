"""load_ledger: CSV, XLSX, SQLite and PostgreSQL sources, validation and the invalid-row policy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import (
    Column,
    Date,
    Engine,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    event,
    func,
    select,
)

from recon.config import (
    AccountMapping,
    ColumnMapping,
    CsvOptions,
    LedgerConfig,
    SqlOptions,
    XlsxOptions,
)
from recon.errors import ConfigError, InputError, NothingCheckedError, RowProblem
from recon.frames import LEDGER_COLUMNS
from recon.ledger import LedgerLoad, load_ledger
from recon.store.db import normalise_url
from recon.store.ledger_snapshots import save_snapshot
from recon.store.schema import ledger_entries, ledger_snapshots, runs

ACCOUNTS = (
    AccountMapping(plaid_account_id="p-usd", ledger_account="1010-operating-usd", currency="USD"),
    AccountMapping(plaid_account_id="p-jpy", ledger_account="1030-tokyo-jpy", currency="JPY"),
    AccountMapping(plaid_account_id="p-kwd", ledger_account="1040-kuwait-kwd", currency="KWD"),
)
JANUARY = {"window_start": date(2025, 1, 1), "window_end": date(2025, 1, 31)}
HEADER = ["entry_id", "date", "amount", "currency", "description", "reference", "counterparty",
          "account"]
# (entry_id, date, amount, currency, description, reference, counterparty, account)
ROWS: list[tuple[str, date, str, str, str, str, str, str]] = [
    ("L-001", date(2025, 1, 2), "1250.00", "USD", "Invoice 1001 paid", "INV-1001", "Acme",
     "1010-operating-usd"),
    ("L-002", date(2025, 1, 3), "-89.99", "USD", "Office chairs", "", "Chairs Inc",
     "1010-operating-usd"),
    ("L-003", date(2025, 1, 15), "150000", "JPY", "Tokyo rent", "R-7", "",
     "1030-tokyo-jpy"),
    ("L-004", date(2025, 1, 31), "12.345", "KWD", "Kuwait fee", "", "Bank",
     "1040-kuwait-kwd"),
    ("L-005", date(2024, 12, 31), "10.00", "USD", "Before the window", "", "",
     "1010-operating-usd"),
    ("L-006", date(2025, 2, 1), "20.00", "USD", "After the window", "", "",
     "1010-operating-usd"),
]
EXPECTED_MINOR = {"L-001": 125000, "L-002": -8999, "L-003": 150000, "L-004": 12345}


def _csv_config(path: Path, **changes: Any) -> LedgerConfig:
    columns = ColumnMapping(currency="currency", reference="reference",
                            counterparty="counterparty")
    return LedgerConfig(source="csv", path=path, columns=columns).model_copy(update=changes)


def _write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _standard_csv(path: Path) -> Path:
    lines = [",".join(HEADER)]
    for entry_id, day, amount, currency, description, reference, party, account in ROWS:
        lines.append(",".join([entry_id, day.isoformat(), amount, currency, description,
                               reference, party, account]))
    return _write_csv(path, lines)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("entry_id").reset_index(drop=True)


def _problems(error: pytest.ExceptionInfo[InputError]) -> list[RowProblem]:
    return list(error.value.problems)


# --- the same ledger from every source --------------------------------------------------------


def test_csv_ledger_reads_into_the_frame_contract(tmp_path: Path) -> None:
    load = load_ledger(_csv_config(_standard_csv(tmp_path / "l.csv")), ACCOUNTS, **JANUARY)
    frame = load.frame
    assert tuple(frame.columns) == LEDGER_COLUMNS
    assert frame["amount_minor"].dtype == "int64"
    assert frame["date"].dtype == "datetime64[ns]"
    assert dict(zip(frame["entry_id"], frame["amount_minor"], strict=True)) == EXPECTED_MINOR
    assert load.total_rows == len(ROWS)
    assert load.rejected == ()
    assert load.source == str(tmp_path / "l.csv")
    assert len(load.content_hash) == 64
    first = frame.iloc[0]
    assert (first["reference"], first["counterparty"], first["date"]) == (
        "INV-1001", "Acme", pd.Timestamp("2025-01-02"))


def _write_xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Ledger"
    sheet.append(["Exported from the ERP"])  # a title row above the header
    sheet.append(HEADER)
    for index, (entry_id, day, amount, currency, description, reference, party, account) in \
            enumerate(ROWS):
        # Alternate real date cells and text dates, numeric and text amounts.
        day_cell: object = datetime(day.year, day.month, day.day) if index % 2 else \
            day.isoformat()
        amount_cell: object = float(amount) if index % 2 else amount
        sheet.append([entry_id, day_cell, amount_cell, currency, description, reference or None,
                      party or None, account])
    workbook.save(path)
    return path


def test_xlsx_ledger_gives_the_same_frame_as_csv(tmp_path: Path) -> None:
    from_csv = load_ledger(_csv_config(_standard_csv(tmp_path / "l.csv")), ACCOUNTS, **JANUARY)
    config = LedgerConfig(
        source="xlsx", path=_write_xlsx(tmp_path / "l.xlsx"),
        columns=_csv_config(tmp_path).columns,
        xlsx=XlsxOptions(sheet="Ledger", header_row=2),
    )
    from_xlsx = load_ledger(config, ACCOUNTS, **JANUARY)
    pd.testing.assert_frame_equal(_sorted(from_xlsx.frame), _sorted(from_csv.frame))
    assert from_xlsx.total_rows == len(ROWS)


def _create_sql_ledger(engine: Engine, name: str) -> Table:
    metadata = MetaData()
    ledger = Table(
        name, metadata,
        Column("entry_id", String(20), primary_key=True),
        Column("date", Date, nullable=False),
        Column("amount", Numeric(18, 4), nullable=False),
        Column("currency", String(3)),
        Column("description", String(200)),
        Column("reference", String(50)),
        Column("counterparty", String(50)),
        Column("account", String(50)),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(ledger.insert(), [
            {"entry_id": e, "date": d, "amount": Decimal(a), "currency": c, "description": t,
             "reference": r, "counterparty": p, "account": acc}
            for e, d, a, c, t, r, p, acc in ROWS
        ])
    return ledger


class _StatementLog:
    """Every SQL statement an engine sends, with its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any,
                 _context: Any, _executemany: bool) -> None:
        self.statements.append((statement, parameters))


@pytest.fixture
def statement_log() -> Iterator[_StatementLog]:
    log = _StatementLog()
    event.listen(Engine, "before_cursor_execute", log)
    yield log
    event.remove(Engine, "before_cursor_execute", log)


def _assert_sql_source_matches_csv(
    tmp_path: Path, url: str, table: str, statement_log: _StatementLog
) -> LedgerLoad:
    from_csv = load_ledger(_csv_config(_standard_csv(tmp_path / "l.csv")), ACCOUNTS, **JANUARY)
    config = LedgerConfig(source="sql", columns=_csv_config(tmp_path).columns,
                          sql=SqlOptions(url_env="LEDGER_DB", table=table))
    from_sql = load_ledger(config, ACCOUNTS, environ={"LEDGER_DB": url}, **JANUARY)
    pd.testing.assert_frame_equal(_sorted(from_sql.frame), _sorted(from_csv.frame))
    # The window is applied by the database: the rows outside it were never fetched.
    assert from_sql.total_rows == len(EXPECTED_MINOR)
    selects = [(s, p) for s, p in statement_log.statements if table in s and "WHERE" in s]
    assert len(selects) == 1
    statement, parameters = selects[0]
    assert ">=" in statement and "<=" in statement
    assert "2025-01-01" in str(parameters) or "datetime.date(2025, 1, 1)" in str(parameters)
    assert "2025" not in statement  # the dates are bound parameters, not SQL text
    assert from_sql.source == f"table {table}"
    return from_sql


def test_sqlite_table_gives_the_same_frame_and_pushes_the_window_down(
    tmp_path: Path, statement_log: _StatementLog
) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    engine = create_engine(url)
    _create_sql_ledger(engine, "gl_lines")
    engine.dispose()
    load = _assert_sql_source_matches_csv(tmp_path, url, "gl_lines", statement_log)
    # Same rows, same canonical hash, whatever order the database returns them in.
    again = load_ledger(
        LedgerConfig(source="sql", columns=_csv_config(tmp_path).columns,
                     sql=SqlOptions(url_env="LEDGER_DB", table="gl_lines")),
        ACCOUNTS, environ={"LEDGER_DB": url}, **JANUARY)
    assert again.content_hash == load.content_hash


@pytest.mark.postgres
def test_postgres_table_gives_the_same_frame_and_pushes_the_window_down(
    tmp_path: Path, postgres_admin_url: str, statement_log: _StatementLog
) -> None:
    name = f"ledger_{uuid.uuid4().hex[:10]}"
    engine = create_engine(normalise_url(postgres_admin_url))
    table = _create_sql_ledger(engine, name)
    try:
        _assert_sql_source_matches_csv(tmp_path, postgres_admin_url, name, statement_log)
    finally:
        table.drop(engine)
        engine.dispose()


def test_sql_query_source_binds_start_and_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    engine = create_engine(url)
    _create_sql_ledger(engine, "gl_lines")
    engine.dispose()
    query = ("SELECT entry_id, date, amount, currency, description, reference, counterparty, "
             "account FROM gl_lines WHERE date BETWEEN :start AND :end")
    config = LedgerConfig(source="sql", columns=_csv_config(tmp_path).columns,
                          sql=SqlOptions(url_env="LEDGER_DB", query=query))
    load = load_ledger(config, ACCOUNTS, environ={"LEDGER_DB": url}, **JANUARY)
    assert dict(zip(load.frame["entry_id"], load.frame["amount_minor"], strict=True)) == \
        EXPECTED_MINOR


def test_sql_source_without_its_environment_variable_is_a_config_error() -> None:
    config = LedgerConfig(source="sql", sql=SqlOptions(url_env="LEDGER_DB", table="gl"))
    with pytest.raises(ConfigError, match="LEDGER_DB is not set"):
        load_ledger(config, ACCOUNTS, environ={}, **JANUARY)


# --- every problem in one error ---------------------------------------------------------------

BAD_LINES = [
    ",".join(HEADER),
    "B-01,2025-01-02,10.00,USD,good row,,,1010-operating-usd",
    "B-02,2025-02-30,10.00,USD,impossible date,,,1010-operating-usd",
    "B-03,2025-01-02,NaN,USD,not a number,,,1010-operating-usd",
    "B-04,2025-01-02,1e3,USD,exponent,,,1010-operating-usd",
    "B-05,2025-01-02,١٢٣.٤٥,USD,arabic digits,,,1010-operating-usd",
    "B-06,2025-01-02,12.345,USD,three decimals,,,1010-operating-usd",
    "B-07,2025-01-02,10.00,XYZ,unknown currency,,,1010-operating-usd",
    "B-08,2025-01-02,10.00,USD,first of a duplicate,,,1010-operating-usd",
    "B-08,2025-01-03,11.00,USD,second of a duplicate,,,1010-operating-usd",
    ",2025-01-02,10.00,USD,no id,,,1010-operating-usd",
    "B-10,2025-01-02,10.00,USD,unknown account,,,9999-nowhere",
    "B-11,2025-01-02,10.00,USD,nul\x00byte,,,1010-operating-usd",
    'B-12,2025-01-02,10.00,USD,"broken"quote,,,1010-operating-usd',
    "B-13,2025-01-02,10.00,USD,too few fields",
    "B-14,2025-01-02,100.5,JPY,yen with decimals,,,1030-tokyo-jpy",
    "B-15,05/01/2025,10.00,USD,wrong date format,,,1010-operating-usd",
]
# (row, column, words in the reason): one per bad row, as a spreadsheet numbers them.
EXPECTED_BAD = [
    (3, "date", "2025-02-30"),
    (4, "amount", "not a plain decimal"),
    (5, "amount", "not a plain decimal"),
    (6, "amount", "non-ASCII"),
    (7, "amount", "more decimals than USD"),
    (8, "currency", "unknown currency 'XYZ'"),
    (9, "entry_id", "appears 2 times (rows 9, 10)"),
    (10, "entry_id", "appears 2 times (rows 9, 10)"),
    (11, "entry_id", "entry id is empty"),
    (12, "account", "'9999-nowhere' is not in the configured accounts"),
    (13, "description", "control character (\\x00)"),
    (14, None, "broken quoting"),
    (15, None, "has 5 fields, the header has 8"),
    (16, "amount", "more decimals than JPY"),
    (17, "date", "not a date in the format %Y-%m-%d"),
]


def _insert_run(connection: Any, run_id: str) -> None:
    now = datetime(2025, 2, 1, 3, 0)
    connection.execute(runs.insert().values(
        run_id=run_id, kind="run", state="loading", heartbeat_at=now, started_at=now,
        config_hash="test", code_version="test"))


def _count(engine: Engine, table: Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_every_bad_row_is_listed_in_one_error_and_nothing_is_stored(
    tmp_path: Path, store: Engine
) -> None:
    path = _write_csv(tmp_path / "bad.csv", BAD_LINES)
    with store.begin() as connection:
        _insert_run(connection, "run-before")
    with pytest.raises(InputError) as error, store.begin() as connection:
        _insert_run(connection, "run-bad")
        load = load_ledger(_csv_config(path), ACCOUNTS, **JANUARY)
        save_snapshot(connection, run_id="run-bad", load=load, now=datetime(2025, 2, 1),
                      **JANUARY)
    found = [(p.row, p.column, p.reason) for p in _problems(error)]
    assert len(found) == len(EXPECTED_BAD), found
    for (row, column, words), (got_row, got_column, reason) in zip(EXPECTED_BAD, found,
                                                                   strict=True):
        assert (got_row, got_column) == (row, column), (row, reason)
        assert words in reason, (row, reason)
    assert all(p.file == str(path) for p in _problems(error))
    assert str(error.value).startswith(f"{path}: 15 bad row(s)")
    assert error.value.exit_code == 65
    assert _count(store, ledger_snapshots) == 0
    assert _count(store, ledger_entries) == 0
    assert _count(store, runs) == 1  # the failed transaction left nothing behind


def test_quarantine_returns_the_good_rows_and_the_rejected_ones(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "bad.csv", BAD_LINES)
    load = load_ledger(_csv_config(path, on_invalid="quarantine"), ACCOUNTS, **JANUARY)
    assert load.frame["entry_id"].tolist() == ["B-01"]
    assert sorted({p.row for p in load.rejected}) == sorted({row for row, _, _ in EXPECTED_BAD})
    assert load.total_rows == len(BAD_LINES) - 1


def test_missing_columns_are_one_problem_naming_them_even_in_quarantine(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", ["id,when,amount", "1,2025-01-02,1.00"])
    with pytest.raises(InputError) as error:
        load_ledger(_csv_config(path, on_invalid="quarantine"), ACCOUNTS, **JANUARY)
    [problem] = _problems(error)
    assert problem.row == 1
    for name in ("'entry_id'", "'date'", "'currency'", "'account'"):
        assert name in problem.reason


def test_card_security_columns_are_refused(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", [
        ",".join([*HEADER, "CVV2"]),
        "L-1,2025-01-02,1.00,USD,x,,,1010-operating-usd,123",
    ])
    with pytest.raises(InputError, match="card security data") as error:
        load_ledger(_csv_config(path, on_invalid="quarantine"), ACCOUNTS, **JANUARY)
    assert "123" not in str(error.value).split("card security")[1]


def test_card_numbers_in_descriptions_are_masked(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", [
        ",".join(HEADER),
        "L-1,2025-01-02,1.00,USD,Refund to card 4111 1111 1111 1111,,,1010-operating-usd",
    ])
    load = load_ledger(_csv_config(path), ACCOUNTS, **JANUARY)
    assert load.frame["description"].tolist() == ["Refund to card ************1111"]


def test_undecodable_bytes_are_reported_with_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    good = "L-1,2025-01-02,1.00,USD,ok,,,1010-operating-usd\n"
    path.write_bytes((",".join(HEADER) + "\n" + good).encode()
                     + b"L-2,2025-01-02,1.00,USD,caf\xe9,,,1010-operating-usd\n")
    with pytest.raises(InputError) as error:
        load_ledger(_csv_config(path), ACCOUNTS, **JANUARY)
    [problem] = _problems(error)
    offset = len(",".join(HEADER)) + 1 + len(good) + len("L-2,2025-01-02,1.00,USD,caf")
    assert (problem.row, problem.column) == (3, "description")
    assert f"line 3, byte offset {offset}: bytes that are not valid utf-8" in problem.reason


def test_oversized_fields_are_refused(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", [
        ",".join(HEADER),
        f"L-1,2025-01-02,1.00,USD,{'x' * 100_001},,,1010-operating-usd",
    ])
    with pytest.raises(InputError, match="longer than 100000 characters"):
        load_ledger(_csv_config(path), ACCOUNTS, **JANUARY)


# --- column mapping and formats ---------------------------------------------------------------


def test_debit_and_credit_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", [
        "id;booked;debit;credit;text",
        "D-1;02.01.2025;1.234,50;;receipt",
        "D-2;03.01.2025;;99,99;payment",
        "D-3;04.01.2025;;;nothing",
    ])
    config = LedgerConfig(
        path=path,
        columns=ColumnMapping(entry_id="id", date="booked", amount=None, debit="debit",
                              credit="credit", description="text", account=None),
        default_account="1010-operating-usd",
        on_invalid="quarantine",
        csv=CsvOptions(delimiter=";", decimal_separator=",", thousands_separator=".",
                       date_format="%d.%m.%Y"),
    )
    load = load_ledger(config, ACCOUNTS, **JANUARY)
    assert load.frame[["entry_id", "amount_minor", "currency", "account"]].values.tolist() == [
        ["D-1", 123450, "USD", "1010-operating-usd"],
        ["D-2", -9999, "USD", "1010-operating-usd"],
    ]
    [problem] = load.rejected
    assert (problem.row, problem.column, problem.reason) == (
        4, "debit", "debit and credit are both empty")

    money_out = load_ledger(config.model_copy(update={"positive_is": "money_out"}), ACCOUNTS,
                            **JANUARY)
    assert money_out.frame["amount_minor"].tolist() == [-123450, 9999]


def test_currency_defaults_to_the_accounts_currency(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "l.csv", [
        "entry_id,date,amount,description,account",
        "Y-1,2025-01-10,1500,yen,1030-tokyo-jpy",
        "Y-2,2025-01-10,1500.5,half a yen,1030-tokyo-jpy",
        "K-1,2025-01-10,1.234,fils,1040-kuwait-kwd",
    ])
    config = LedgerConfig(path=path, on_invalid="quarantine")
    load = load_ledger(config, ACCOUNTS, **JANUARY)
    assert load.frame[["entry_id", "currency", "amount_minor"]].values.tolist() == [
        ["Y-1", "JPY", 1500], ["K-1", "KWD", 1234]]
    [problem] = load.rejected
    assert (problem.row, problem.column) == (3, "amount")
    assert "more decimals than JPY allows (0)" in problem.reason


def test_day_and_month_order_follows_only_the_declared_format(tmp_path: Path) -> None:
    lines = ["entry_id,date,amount,currency,description,account",
             "A,05/01/2025,1.00,USD,x,1010-operating-usd",
             "B,13/01/2025,1.00,USD,x,1010-operating-usd"]
    path = _write_csv(tmp_path / "l.csv", lines)
    dd_mm = load_ledger(_csv_config(path, on_invalid="quarantine").model_copy(
        update={"csv": CsvOptions(date_format="%d/%m/%Y"),
                "columns": ColumnMapping(currency="currency")}), ACCOUNTS, **JANUARY)
    assert dd_mm.frame["date"].tolist() == [pd.Timestamp("2025-01-05"),
                                            pd.Timestamp("2025-01-13")]
    mm_dd = load_ledger(_csv_config(path, on_invalid="quarantine").model_copy(
        update={"csv": CsvOptions(date_format="%m/%d/%Y"),
                "columns": ColumnMapping(currency="currency")}),
        ACCOUNTS, window_start=date(2025, 1, 1), window_end=date(2025, 12, 31))
    assert mm_dd.frame["date"].tolist() == [pd.Timestamp("2025-05-01")]
    [problem] = mm_dd.rejected
    assert (problem.row, problem.column) == (3, "date")


def test_xlsx_formula_without_cached_value_is_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "l.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["entry_id", "date", "amount", "description", "account"])
    sheet.append(["X-1", "2025-01-02", "=1+2", "computed", "1010-operating-usd"])
    sheet.append(["X-2", "2025-01-02", 5, None, "1010-operating-usd"])
    workbook.save(path)
    config = LedgerConfig(source="xlsx", path=path, on_invalid="quarantine")
    load = load_ledger(config, ACCOUNTS, **JANUARY)
    assert load.frame["entry_id"].tolist() == ["X-2"]
    assert load.frame["amount_minor"].tolist() == [500]
    problems = [(p.row, p.column) for p in load.rejected]
    assert (2, "amount") in problems
    assert any("formula without a cached value" in p.reason for p in load.rejected)


def test_xlsx_that_is_not_a_workbook_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "l.xlsx"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable XLSX workbook"):
        load_ledger(LedgerConfig(source="xlsx", path=path), ACCOUNTS, **JANUARY)


# --- the fast CSV reader gives exactly what the strict one gives --------------------------------

_H = ",".join(HEADER)
_OK = "1010-operating-usd"
# (name, file bytes, encoding, delimiter, whether the fast reader may take the file)
FAST_OR_STRICT: list[tuple[str, bytes, str, str, bool]] = [
    ("quoted fields, doubled quotes, a line break in a quote, no final newline",
     (f'{_H}\nQ-1,2025-01-02,10.00,USD,"Paid, in ""full""",R,"Acme\nLtd",{_OK}\n'
      f'"Q-2",2025-01-03,"-1.50",USD,"",,"",{_OK}\nQ-3,2025-01-04,1,USD,x,,,{_OK}').encode(),
     "utf-8", ",", True),
    ("CRLF line ends", f"{_H}\r\nC-1,2025-01-02,1.00,USD,x,,,{_OK}\r\n".encode(), "utf-8", ",",
     True),
    ("a UTF-8 byte-order mark", b"\xef\xbb\xbf" + f"{_H}\nB-1,2025-01-02,1.00,USD,café,,,{_OK}\n"
     .encode(), "utf-8", ",", True),
    ("latin-1", f"{_H}\nL-1,2025-01-02,1.00,USD,café,,,{_OK}\n".encode("latin-1"), "latin-1",
     ",", True),
    ("padded cells", f"{_H}\n P-1 ,2025-01-02 ,\u00a01.00,USD, x\t,,,{_OK} \n".encode(),
     "utf-8", ",", True),
    ("padding inside quotes", f'{_H}\nQ-1,2025-01-02,1.00,USD," x ",\"\nR\",""," {_OK}"\n'
     .encode(), "utf-8", ",", True),
    ("a repeated header column", f"{_H},amount\nD-1,2025-01-02,1.00,USD,x,,,{_OK},2\n".encode(),
     "utf-8", ",", True),
    ("semicolons and decimal commas", f"{_H.replace(',', ';')}\nS-1;2025-01-02;1,50;USD;x;;;"
     f"{_OK}\n".encode(), "utf-8", ";", True),
    ("card and phone numbers", f"{_H}\nK-1,2025-01-02,1.00,USD,card 4111-1111-1111-1111 "
     f"and 5500 0000 0000 0004,,,{_OK}\nK-2,2025-01-02,1.00,USD,call +1 555-123-4567,,,{_OK}\n"
     .encode(), "utf-8", ",", True),
    ("only a header", f"{_H}\n".encode(), "utf-8", ",", True),
    ("text after a closing quote", f'{_H}\nX-1,2025-01-02,1.00,USD,"ab"c,,,{_OK}\n'.encode(),
     "utf-8", ",", False),
    ("a quote inside an unquoted field", f'{_H}\nX-1,2025-01-02,1.00,USD,a"b,,,{_OK}\n'.encode(),
     "utf-8", ",", False),
    ("a short and a long row", f"{_H}\nX-1,2025-01-02,1.00,USD\nX-2,2025-01-02,1.00,USD,x,,,"
     f"{_OK},extra\nX-3,2025-01-02,1.00,USD,x,,,{_OK}\n".encode(), "utf-8", ",", False),
    ("blank lines", f"{_H}\n\nX-1,2025-01-02,1.00,USD,x,,,{_OK}\n\n".encode(), "utf-8", ",",
     False),
    ("a lone carriage return", f"{_H}\rX-1,2025-01-02,1.00,USD,x,,,{_OK}\n".encode(), "utf-8",
     ",", False),
    ("CRLF inside a quoted field", f'{_H}\nX-1,2025-01-02,1.00,USD,"a\r\nb",,,{_OK}\n'.encode(),
     "utf-8", ",", False),
    ("a control character", f"{_H}\nX-1,2025-01-02,1.00,USD,a\x01b,,,{_OK}\n".encode(),
     "utf-8", ",", False),
    ("an unterminated quote", f'{_H}\nX-1,2025-01-02,1.00,USD,"open,,,{_OK}\n'.encode(),
     "utf-8", ",", False),
    ("undecodable bytes", f"{_H}\n".encode() + b"X-1,2025-01-02,1.00,USD,caf\xe9,,,"
     + f"{_OK}\n".encode(), "utf-8", ",", False),
    ("an oversized field", f"{_H}\nX-1,2025-01-02,1.00,USD,{'x' * 100_001},,,{_OK}\n".encode(),
     "utf-8", ",", False),
]


def _outcome(config: LedgerConfig) -> tuple[Any, ...]:
    try:
        load = load_ledger(config, ACCOUNTS, **JANUARY)
    except InputError as exc:
        return ("error", exc.problems)
    except NothingCheckedError as exc:  # a header-only file: both readers must say so
        return ("nothing", str(exc))
    return ("load", load.frame.to_dict("list"), load.rejected, load.total_rows,
            load.content_hash)


@pytest.mark.parametrize(("name", "data", "encoding", "delimiter", "fast"), FAST_OR_STRICT,
                         ids=[case[0] for case in FAST_OR_STRICT])
def test_fast_csv_reader_matches_the_strict_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, encoding: str,
    delimiter: str, fast: bool,
) -> None:
    from recon.ledger import csv_source

    path = tmp_path / "l.csv"
    path.write_bytes(data)
    decimal = "," if delimiter == ";" else "."
    config = _csv_config(path, on_invalid="quarantine",
                         csv=CsvOptions(delimiter=delimiter, encoding=encoding,
                                        decimal_separator=decimal))
    read_fast = csv_source._read_fast
    taken: list[bool] = []

    def spy(*args: Any) -> Any:
        table = read_fast(*args)
        taken.append(table is not None)
        return table

    monkeypatch.setattr(csv_source, "_read_fast", spy)
    with_fast = _outcome(config)
    assert taken == [fast], name
    monkeypatch.setattr(csv_source, "_read_fast", lambda *args: None)
    assert with_fast == _outcome(config), name


def test_fast_reader_results_for_a_tricky_file(tmp_path: Path) -> None:
    """The cells themselves, not only fast == strict: quotes, line breaks and padding."""
    data = next(case[1] for case in FAST_OR_STRICT if case[0].startswith("quoted fields"))
    load = load_ledger(_csv_config(_write_bytes(tmp_path / "l.csv", data)), ACCOUNTS, **JANUARY)
    assert load.frame[["entry_id", "amount_minor", "description", "counterparty"]] \
        .values.tolist() == [["Q-1", 1000, 'Paid, in "full"', "Acme\nLtd"],
                             ["Q-2", -150, "", ""], ["Q-3", 100, "x", ""]]
    padded = next(case[1] for case in FAST_OR_STRICT if case[0] == "padded cells")
    load = load_ledger(_csv_config(_write_bytes(tmp_path / "p.csv", padded)), ACCOUNTS,
                       **JANUARY)
    assert load.frame[["entry_id", "amount_minor", "description", "account"]].values.tolist() \
        == [["P-1", 100, "x", _OK]]
    cards = next(case[1] for case in FAST_OR_STRICT if case[0] == "card and phone numbers")
    load = load_ledger(_csv_config(_write_bytes(tmp_path / "c.csv", cards)), ACCOUNTS,
                       **JANUARY)
    assert load.frame["description"].tolist() == [
        "card ************1111 and ************0004", "call +1 555-123-4567"]


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_card_masking_looks_at_candidate_cells_only_but_masks_like_mask_card_numbers() -> None:
    from recon.ledger.validate import _mask_cards
    from recon.logs import mask_card_numbers

    values = ["plain", "4111 1111 1111 1111", "x 5500-0000-0000-0004 y 4111111111111111",
              "1234567890123", "12345678901", "", "dates 2025-01-02 2025-01-03", "nul\x00"
              "4111111111111111", "ünï 4111111111111111"]
    for cells in (values, [v for v in values if "\x00" not in v]):
        masked = _mask_cards(pd.Series(cells, dtype=object)).tolist()
        assert masked == [mask_card_numbers(v) for v in cells]
