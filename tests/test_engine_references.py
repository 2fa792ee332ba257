"""Golden cases for references learned from the ledger (recon.engine.references), written from
issue 14's examples: a reference inside a bank description in the company's own format, cut off
at the end of a truncated description, retyped, contradicting, and in a check number."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from test_engine import MATCHING, bank_row, ledger_row, links_of, run

from recon.engine import references
from recon.engine.state import MatchState


def state_of(bank: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> MatchState:
    return MatchState.prepare(pd.DataFrame(bank), pd.DataFrame(ledger), MATCHING)


def named(state: MatchState, tid: str) -> list[str]:
    """The ledger references (as the ledger writes them) bank row ``tid`` names."""
    position = int(np.flatnonzero(state.bank.ids == tid)[0])
    rows, codes = state.bank.named_pairs
    return sorted(str(state.bank.reference_names[c]) for c in codes[rows == position])


def test_separators_and_case_do_not_matter() -> None:
    assert references.compact("INV/2019/00001") == "INV201900001"
    assert references.compact("inv 2019 00001") == references.compact("INV2019-00001")
    assert references.compact("RF18 5390 0754") == references.compact("rf18-5390-0754")


def test_short_word_like_and_date_like_references_are_not_searched() -> None:
    assert not references.searchable("1")
    assert not references.searchable("ACME")  # no digit: a word
    assert not references.searchable("2019")  # four digits: years, store numbers
    assert not references.searchable("20250214")  # a date: trace numbers are full of them
    assert references.searchable("AR3310")
    assert references.searchable("55012")


def test_references_in_any_format_are_found_inside_descriptions() -> None:
    ledger = [
        ledger_row("L1", -51204_00, "2024-03-01", "Comcast", reference="INV-51204"),
        ledger_row("L2", 3310_00, "2024-03-01", "Initech", reference="AR-3310"),
        ledger_row("L3", 100_00, "2024-03-01", "Sale", reference="INV/2019/00001"),
        ledger_row("L4", 200_00, "2024-03-01", "Sepa", reference="RF18 5390 0754"),
        ledger_row("L5", -300_00, "2024-03-01", "Digi-Key", reference="PO 55012"),
        ledger_row("L6", 5_00, "2024-03-01", "Tiny", reference="1"),
    ]
    bank = [
        bank_row("B1", -51204_00, "2024-03-02", "WIRE TRF OUT COMCAST BUSINESS INV-51204"),
        bank_row("B2", 3310_00, "2024-03-02", "ACH CREDIT INITECH LLC AR-3310"),
        bank_row("B3", 100_00, "2024-03-02", "PAYMENT INV2019-00001 THANK YOU"),
        bank_row("B4", 200_00, "2024-03-02", "SEPA CREDIT RF1853900754"),
        bank_row("B5", -300_00, "2024-03-02", "ACH DEBIT DIGIKEY PO55012"),
        bank_row("B6", 5_00, "2024-03-02", "STORE 1 LANE 1"),
        bank_row("B7", 7_00, "2024-03-02", "TRACE 9951204"),  # digits inside a longer number
    ]
    state = state_of(bank, ledger)
    assert named(state, "B1") == ["INV-51204"]
    assert named(state, "B2") == ["AR-3310"]
    assert named(state, "B3") == ["INV/2019/00001"]
    assert named(state, "B4") == ["RF18 5390 0754"]
    assert named(state, "B5") == ["PO 55012"]
    assert named(state, "B6") == []  # "1" is too short to look for
    assert named(state, "B7") == []
    links = links_of(run(bank, ledger))
    link = links[("B1", "L1")]
    assert link["status"] == "matched" and link["rule"] == "exact_reference"
    assert "reference INV-51204 named by the bank transaction" in link["explanation"]


def test_a_retyped_reference_is_named_by_its_digits() -> None:
    ledger = [
        ledger_row("L1", 1500_00, "2024-03-13", "Customer payment Rekall", "Rekall Inc",
                   "INV-55119"),
        ledger_row("L2", -745_24, "2024-03-05", "Payment to Digi-Key", "Digi-Key", "PO 55119"),
    ]  # fmt: skip
    bank = [bank_row("B1", 1500_00, "2024-03-14", "REKALL INC DES:PAYMENT ID:INVOICE 55119")]
    state = state_of(bank, ledger)
    assert named(state, "B1") == ["INV-55119", "PO 55119"]  # its digits belong to both
    assert ("B1", "L1") in links_of(run(bank, ledger))


def test_a_reference_cut_off_by_truncation_counts_when_unique_in_the_window() -> None:
    ledger = [
        ledger_row("L1", -410_00, "2024-03-04", "Office Depot", "Office Depot", "INV-73310"),
        ledger_row("L2", -999_00, "2024-01-04", "Other", "Someone", "INV-73311"),  # far away
        ledger_row("L3", -999_00, "2024-03-04", "Other", "Someone", "INV-55512", account="9"),
    ]  # fmt: skip
    bank = [bank_row("B1", -410_00, "2024-03-05", "ACH DEBIT OFFICE DEPOT INV-73")]
    state = state_of(bank, ledger)
    assert named(state, "B1") == ["INV-73310"]
    assert state.bank.reference_cut[0] == "INV73"
    link = links_of(run(bank, ledger))[("B1", "L1")]
    assert link["rule"] == "exact_reference" and link["status"] == "matched"
    assert "reference cut off: 'INV73' is the start of INV-73310" in link["explanation"]


def test_a_cut_off_reference_that_starts_two_candidates_names_none() -> None:
    ledger = [
        ledger_row("L1", -410_00, "2024-03-04", "Office Depot", "Office Depot", "INV-73310"),
        ledger_row("L2", -410_00, "2024-03-05", "Office Depot", "Office Depot", "INV-73399"),
    ]  # fmt: skip
    bank = [bank_row("B1", -410_00, "2024-03-05", "ACH DEBIT OFFICE DEPOT INV-73")]
    assert named(state_of(bank, ledger), "B1") == []


def test_a_check_number_names_the_check() -> None:
    ledger = [ledger_row("L1", -250_00, "2024-03-01", "Check to Acme", "Acme", "1042")]
    bank = [bank_row("B1", -250_00, "2024-03-04", "CHECK") | {"check_number": "1042"}]
    assert named(state_of(bank, ledger), "B1") == ["1042"]


def test_contradicting_references_lose_and_are_never_confirmed() -> None:
    # The bank names INV-51204; a same-amount, same-day ledger row holds INV-66019.
    ledger = [
        ledger_row("L1", 1600_00, "2024-03-05", "Customer payment Contoso AR-3516", "Contoso",
                   "INV-66019"),
        ledger_row("L2", 1600_00, "2024-03-04", "Receipt Contoso", "Contoso", "INV-51204"),
    ]  # fmt: skip
    bank = [bank_row("B1", 1600_00, "2024-03-05", "ACH DEPOSIT CONTOSO LTD INV-51204")]
    links = links_of(run(bank, ledger))
    assert ("B1", "L2") in links and links[("B1", "L2")]["status"] == "matched"
    assert ("B1", "L1") not in links
    # Without L2 as a candidate (it is in another account), the contradicting pair is at most
    # suggested, and says why.
    links = links_of(run(bank, [ledger[0], ledger[1] | {"account": "2020"}]))
    link = links[("B1", "L1")]
    assert link["status"] == "suggested"
    assert "names reference INV-51204, the ledger entry's is INV-66019" in link["explanation"]
