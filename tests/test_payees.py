"""Payees learned from confirmed matches: the descriptor key, the memory (conflicts left out),
the engine reading it as text agreement, and the store learning and unlearning."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from recon.engine import reconcile
from recon.engine.payees import LearnedPayee, PayeeMemory, descriptor_key
from recon.frames import MatchResult
from recon.records import Status
from recon.store.db import _alembic_config
from recon.store.payees import learn_payees, load_payee_memory
from recon.store.schema import payee_memory
from tests.test_engine import AS_OF, MATCHING, bank_row, ledger_row, links_of


@pytest.mark.parametrize(
    ("description", "key"),
    [
        ("ACH DEBIT GOOGLE *GSUI 8812", "GOOGLE *GSUI"),
        ("ach debit google *gsui 9921", "GOOGLE *GSUI"),
        ("WIRE TRF OUT 3283 MOUSER ELECTRONIC", "MOUSER ELECTRONIC"),
        ("WIRE TRF OUT 1571 MOUSER ELECTRONIC", "MOUSER ELECTRONIC"),
        ("NETFLIX.COM 2024-03-01", "NETFLIX.COM"),
        ("DEPOSIT", "DEPOSIT"),  # nothing but channel words: kept
        ("123456 2024-01-01", ""),  # no letter left
    ],
)
def test_descriptor_key(description: str, key: str) -> None:
    assert descriptor_key(description) == key


def test_a_descriptor_taught_two_counterparties_is_not_used() -> None:
    memory = PayeeMemory.from_links([
        ("GOOGLE *GSUI", "Google Workspace", 13), ("GOOGLE *GSUI", "google  workspace", 1),
        ("AMZN MKTP", "Amazon", 3), ("AMZN MKTP", "Office Depot", 1),
    ])  # fmt: skip
    assert memory.payees == {"GOOGLE *GSUI": LearnedPayee("Google Workspace", 14)}
    assert memory.conflicting == {"AMZN MKTP"}


GOOGLE = PayeeMemory({"GSUI BILLING": LearnedPayee("Google Workspace", 14)})
# Texts with no word (or start of a word) in common, amounts 0.03 apart: only agreeing texts
# allow the tolerance.
PAIR = (
    [bank_row("B1", -1_203, "2024-03-12", "ACH DEBIT GSUI BILLING 9921", "")],
    [ledger_row("L1", -1_200, "2024-03-11", "Monthly subscription", "Google Workspace")],
)


def _run(memory: PayeeMemory | None) -> MatchResult:
    bank, ledger = (pd.DataFrame(rows) for rows in PAIR)
    return reconcile(bank, ledger, MATCHING, as_of=AS_OF, payees=memory)


def test_a_learned_payee_counts_as_text_agreement_and_is_named() -> None:
    assert _run(None).links.empty
    link = links_of(_run(GOOGLE))[("B1", "L1")]
    assert link["rule"] == "tolerance"
    assert link["explanation"].endswith(
        "; learned payee: 'GSUI BILLING' is Google Workspace, from 14 confirmed links"
    )


def test_a_learned_payee_of_another_counterparty_does_not_help() -> None:
    other = PayeeMemory({"GSUI BILLING": LearnedPayee("Alphabet Payments", 3)})
    assert _run(other).links.empty


def _result(status: str) -> MatchResult:
    links = pd.DataFrame([{
        "match_id": "m1", "bank_transaction_id": "B1", "ledger_entry_id": "L1",
        "status": status, "rule": "exact_amount", "score": 1.0,
        "amount_difference_minor": 0, "date_difference_days": 0, "explanation": "",
    }])  # fmt: skip
    empty = pd.DataFrame(columns=["bank_transaction_id"])
    return MatchResult(links=links, discrepancies=empty, alternatives=pd.DataFrame())


def test_the_store_learns_confirmed_links_and_unlearns_what_is_no_longer_confirmed(
    store: Engine,
) -> None:
    bank = pd.DataFrame({"transaction_id": ["B1"], "description": ["ACH DEBIT GOOGLE *GSUI 1"]})
    ledger = pd.DataFrame({"entry_id": ["L1"], "counterparty": ["Google Workspace"]})
    with store.begin() as conn:
        learned = learn_payees(conn, run_id="r1", as_of=date(2024, 3, 1),
                               result=_result(Status.MATCHED), bank=bank, ledger=ledger)
    assert learned == 1
    with store.connect() as conn:
        assert load_payee_memory(conn, before=date(2024, 3, 2)).payees == {
            "GOOGLE *GSUI": LearnedPayee("Google Workspace", 1)
        }
        assert len(load_payee_memory(conn, before=date(2024, 3, 1))) == 0  # not the night itself
    for night in (2, 3):  # reported again, unchanged: nothing new is stored
        with store.begin() as conn:
            learn_payees(conn, run_id=f"r{night}", as_of=date(2024, 3, night),
                         result=_result(Status.MATCHED), bank=bank, ledger=ledger)
    with store.begin() as conn:  # the next night the link is only suggested: forgotten
        learn_payees(conn, run_id="r4", as_of=date(2024, 3, 4),
                     result=_result(Status.SUGGESTED), bank=bank, ledger=ledger)
    with store.connect() as conn:
        assert len(load_payee_memory(conn, before=date(2024, 3, 4))) == 1
        assert len(load_payee_memory(conn, before=date(2024, 3, 5))) == 0
        stored = conn.execute(select(payee_memory.c.as_of, payee_memory.c.counterparty)
                              .order_by(payee_memory.c.as_of)).all()  # fmt: skip
    assert stored == [(date(2024, 3, 1), "Google Workspace"), (date(2024, 3, 4), None)]


def test_a_rerun_of_a_night_reads_and_leaves_what_the_first_run_did(store: Engine) -> None:
    bank = pd.DataFrame({"transaction_id": ["B1"], "description": ["ACH DEBIT GOOGLE *GSUI 1"]})
    ledger = pd.DataFrame({"entry_id": ["L1"], "counterparty": ["Google Workspace"]})
    for _ in range(2):
        with store.begin() as conn:
            assert len(load_payee_memory(conn, before=date(2024, 3, 1))) == 0
            learn_payees(conn, run_id="r1", as_of=date(2024, 3, 1),
                         result=_result(Status.MATCHED), bank=bank, ledger=ledger)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(payee_memory)).scalar_one() == 1


def test_migration_0005_fills_check_numbers_of_stored_rows(store: Engine) -> None:
    from alembic import command

    cfg = _alembic_config()
    with store.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_partitions")
    with store.begin() as conn:
        conn.execute(text(
            "INSERT INTO items (item_id, status, created_at, updated_at) "
            "VALUES ('i1', 'active', '2024-01-01', '2024-01-01')"
        ))  # fmt: skip
        for tid, raw in (("T1", {"check_number": "1043"}), ("T2", {"name": "x"})):
            conn.execute(text(
                "INSERT INTO bank_transactions (transaction_id, item_id, account_id, "
                "amount_minor, currency, date, name, pending, raw_json, first_seen_at, "
                "updated_at) VALUES (:t, 'i1', 'a1', 100, 'USD', '2024-01-01', 'CHECK', "
                ":f, :raw, '2024-01-01', '2024-01-01')"
            ), {"t": tid, "raw": json.dumps(raw), "f": False})  # fmt: skip
    with store.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with store.connect() as conn:
        numbers = dict(conn.execute(text(
            "SELECT transaction_id, check_number FROM bank_transactions ORDER BY 1"
        )).all())  # fmt: skip
        assert numbers == {"T1": "1043", "T2": None}
        conn.execute(select(payee_memory)).all()  # the table is back


def test_a_suggestion_an_analyst_accepted_teaches_as_analyst(store: Engine) -> None:
    from datetime import UTC, datetime

    from recon.store.reviews import ACCEPTED, LinkDecision, record_link_decisions

    bank = pd.DataFrame({"transaction_id": ["B1"], "description": ["POS PURCHASE BLUE SHIE"]})
    ledger = pd.DataFrame({"entry_id": ["L1"], "counterparty": ["Blue Shield of California"]})
    with store.begin() as conn:
        record_link_decisions(conn, [LinkDecision(
            "m1", "B1", "L1", ACCEPTED, "pat", datetime(2024, 3, 2, tzinfo=UTC), "r0",
            date(2024, 3, 1),
        )])  # fmt: skip
        # apply_link_decisions has made the accepted suggestion a matched link.
        learn_payees(conn, run_id="r1", as_of=date(2024, 3, 2),
                     result=_result(Status.MATCHED), bank=bank, ledger=ledger)
    with store.connect() as conn:
        rows = conn.execute(select(payee_memory.c.descriptor, payee_memory.c.source)).all()
    assert rows == [("BLUE SHIE", "analyst")]
