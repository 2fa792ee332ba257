"""The balances a statement starts from: per bank (Plaid backed out, command line, CSV column)
and per books (trial balance, a SQL query, an opening balance rolled forward)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import Engine, create_engine, text

from recon.balances import (
    books_balances,
    csv_column_balances,
    parse_statement_balances,
    plaid_bank_balances,
    read_trial_balance,
)
from recon.config import Config, parse_config
from recon.errors import ConfigError, InputError
from recon.store.bank import (
    bank_balances_at,
    upsert_accounts,
    upsert_bank_transactions,
    upsert_item,
)

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)


def _config(**statement: object) -> Config:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["statement"].update(statement)
    return parse_config(data, environ={})


def _ledger(*rows: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame({
        "entry_id": [f"JE-{i}" for i in range(len(rows))],
        "account": [r[0] for r in rows],
        "currency": ["JPY" if r[0].endswith("jpy") else "USD" for r in rows],
        "amount_minor": [r[2] for r in rows],
        "date": pd.to_datetime([r[1] for r in rows]),
        "description": "", "reference": "", "counterparty": "",
    })


def test_an_opening_balance_rolls_forward_with_the_ledger_up_to_the_as_of_date() -> None:
    config = _config(opening_balances={"1010-operating-usd": {"date": "2026-10-31",
                                                              "amount": "1000.00"}})
    ledger = _ledger(("1010-operating-usd", "2026-10-31", 99_999),  # on the opening day: in it
                     ("1010-operating-usd", "2026-11-02", 2_500),
                     ("1010-operating-usd", "2026-11-20", -500),
                     ("1010-operating-usd", "2026-11-21", 7_000))  # after the as-of date
    balances = books_balances(config, ledger, AS_OF)
    assert balances["1010-operating-usd"].minor == 100_000 + 2_000
    assert "2 ledger rows" in balances["1010-operating-usd"].source
    assert balances["1020-payroll-usd"].minor is None  # no opening balance, no trial balance


def test_a_trial_balance_row_for_the_date_wins_and_bad_rows_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "tb.csv"
    path.write_text("account,date,balance\n1010-operating-usd,2026-11-20,1234.56\n"
                    "1030-tokyo-jpy,2026-11-20,500\n9999-other,2026-11-20,1\n", encoding="utf-8")
    config = _config(books_balance_file=str(path))
    balances = books_balances(config, _ledger(), AS_OF)
    assert balances["1010-operating-usd"].minor == 123_456
    assert balances["1030-tokyo-jpy"].minor == 500
    assert balances["1010-operating-usd"].source == "trial balance tb.csv at 2026-11-20"
    path.write_text("account,date,balance\n1010-operating-usd,20/11/2026,1\n"
                    "1030-tokyo-jpy,2026-11-20,1.5\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_trial_balance(path, config.accounts)
    message = str(caught.value)
    assert "row 2, column 'date'" in message and "row 3, column 'balance'" in message


def test_a_sql_ledger_is_asked_for_its_own_balance(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gl.db'}"
    engine: Engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE gl (account TEXT, posted_on DATE, amount TEXT)"))
        connection.execute(text("INSERT INTO gl VALUES ('1010-operating-usd', '2026-11-01', "
                                "'100.25'), ('1010-operating-usd', '2026-11-25', '5.00')"))
    engine.dispose()
    query = ("SELECT CAST(SUM(amount) AS TEXT) FROM gl WHERE account = :account "
             "AND posted_on <= :as_of")
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["ledger"] = {"source": "sql", "sql": {"url_env": "GL_URL", "table": "gl"}}
    data["statement"]["books_balance_query"] = query
    config = parse_config(data, environ={})
    balances = books_balances(config, _ledger(), AS_OF, environ={"GL_URL": url})
    assert balances["1010-operating-usd"].minor == 10_025
    assert "books_balance_query" in balances["1010-operating-usd"].source
    with pytest.raises(ConfigError, match="GL_URL"):
        books_balances(config, _ledger(), AS_OF, environ={})
    with pytest.raises(ConfigError, match="needs a SQL ledger"):
        _config(books_balance_query=query)


def test_statement_balances_come_from_the_command_line_or_a_csv_column(tmp_path: Path) -> None:
    config = _config()
    given = parse_statement_balances(
        ["1010-operating-usd=1000.00",
         "Qm7rN2kXp4LwZ8vB3cJt6yHs9dFg1aEuRo5iT=25000"], config.accounts)
    assert given["1010-operating-usd"].minor == 100_000
    assert given["1030-tokyo-jpy"].minor == 25_000
    with pytest.raises(InputError, match="expected ACCOUNT=AMOUNT"):
        parse_statement_balances(["nowhere=1"], config.accounts)
    bank = tmp_path / "bank.csv"
    operating = config.accounts[0].plaid_account_id
    bank.write_text(
        "transaction_id,account_id,date,amount,iso_currency_code,name,balance\n"
        f"t1,{operating},2026-11-19,10.00,USD,A,990.00\n"
        f"t2,{operating},2026-11-20,5.00,USD,B,985.00\n"
        f"t3,{operating},2026-11-21,5.00,USD,C,980.00\n", encoding="utf-8")
    balances = csv_column_balances(bank, config.accounts, AS_OF)
    assert balances == {"1010-operating-usd": balances["1010-operating-usd"]}
    assert balances["1010-operating-usd"].minor == 98_500


def test_the_plaid_balance_is_backed_out_to_the_as_of_date(store: Engine) -> None:
    config = _config()
    operating = config.accounts[0].plaid_account_id
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    with store.begin() as connection:
        upsert_item(connection, item_id="item-1", institution_id="ins", institution_name="Bank",
                    now=now)
        upsert_accounts(connection, "item-1", [{"account_id": operating, "balances": {
            "current": "1000.00", "available": "990.00", "iso_currency_code": "USD"}}], now=now)
        upsert_bank_transactions(connection, [
            _txn("a", operating, "2026-11-20", 100_00, pending=False),
            _txn("b", operating, "2026-11-21", -30_00, pending=False),  # after: backed out
            _txn("c", operating, "2026-11-22", -10_00, pending=True),  # pending: not in it
        ], now=now)
    balances = plaid_bank_balances(bank_balances_at(store, config, AS_OF), AS_OF)
    assert balances["1010-operating-usd"].minor == 100_000 + 3_000
    assert "less 1 transactions posted after 2026-11-20" in balances["1010-operating-usd"].source
    assert balances["1020-payroll-usd"].minor is None


def _txn(transaction_id: str, account: str, day: str, minor: int, *, pending: bool
         ) -> dict[str, object]:
    return {"transaction_id": transaction_id, "item_id": "item-1", "account_id": account,
            "amount_minor": minor, "removed_at": None,
            "currency": "USD", "date": date.fromisoformat(day), "authorized_date": None,
            "name": transaction_id, "merchant_name": None, "reference": None,
            "pending": pending, "pending_transaction_id": None, "raw_json": "{}"}
