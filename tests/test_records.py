"""The typed records at the engine's boundary, read from a real engine result."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from recon import records, synth
from recon.config import load_config
from recon.engine import reconcile
from recon.frames import MatchResult
from recon.records import Discrepancy, ItemSide, Kind, Link, Status

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def _result() -> MatchResult:
    as_of = date(2026, 11, 20)
    data = synth.demo_dataset(as_of)
    config = load_config(SHIPPED_CONFIG)
    return reconcile(data.bank, data.ledger, config.matching, as_of=as_of)


def test_every_row_of_a_real_result_reads_as_a_record() -> None:
    result = _result()
    links = list(records.links(result.links))
    found = list(records.discrepancies(result.discrepancies))
    alternatives = list(records.alternatives(result.alternatives))
    assert len(links) == len(result.links) > 1000
    assert len(found) == len(result.discrepancies) > 20
    assert len(alternatives) == len(result.alternatives)
    assert {link.status for link in links} == set(Status)
    assert {item.kind for item in found} == set(Kind)
    assert all(isinstance(item.date, date) for item in found)
    mismatch = next(item for item in found if item.kind is Kind.AMOUNT_MISMATCH)
    assert mismatch.side is ItemSide.BOTH
    assert mismatch.bank_transaction_id and mismatch.ledger_entry_id


def test_record_fields_are_the_frame_columns() -> None:
    assert records.LINK_COLUMNS[:4] == (
        "match_id", "bank_transaction_id", "ledger_entry_id", "status",
    )  # fmt: skip
    assert records.columns(Link) == records.LINK_COLUMNS
    assert records.columns(Discrepancy) == records.DISCREPANCY_COLUMNS
    assert "nearest_candidate" in records.DISCREPANCY_COLUMNS


def test_an_unknown_status_is_refused_not_carried() -> None:
    frame = pd.DataFrame(
        [["m1", "b1", "l1", "maybe", "exact_amount", 0.9, 0, 0, "1010", "USD", "..."]],
        columns=list(records.LINK_COLUMNS),
    )
    try:
        list(records.links(frame))
    except ValueError as error:
        assert "maybe" in str(error)
    else:
        raise AssertionError("an unknown status was accepted")
