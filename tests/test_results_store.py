"""save_reconciliation: idempotent per as-of date, carry-forward, resolution, changes."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, func, select, update
from test_report_support import discrepancy, insert_run, link, result, sample_result

from recon.carry import CarryForward
from recon.store.results import save_reconciliation
from recon.store.schema import discrepancies, discrepancy_sightings, matches

DAY1 = date(2024, 3, 14)
DAY2 = date(2024, 3, 15)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _row(engine: Engine, discrepancy_id: str) -> object:
    with engine.connect() as connection:
        return connection.execute(
            select(discrepancies).where(discrepancies.c.discrepancy_id == discrepancy_id)
        ).one()


def _save(engine: Engine, run_id: str, as_of: date, match_result: object,
          **kwargs: object) -> CarryForward:
    with engine.begin() as connection:
        insert_run(connection, run_id, as_of)
        return save_reconciliation(connection, run_id=run_id, as_of=as_of,
                                   result=match_result, **kwargs)  # type: ignore[arg-type]


def test_rerunning_the_same_date_leaves_no_duplicate_rows(store: Engine) -> None:
    first = _save(store, "run-a", DAY2, sample_result())
    counts = (_count(store, matches), _count(store, discrepancies),
              _count(store, discrepancy_sightings))
    second = _save(store, "run-b", DAY2, sample_result())

    assert counts == (4, 5, 5)
    assert (_count(store, matches), _count(store, discrepancies),
            _count(store, discrepancy_sightings)) == counts
    assert first.annotations == second.annotations
    with store.connect() as connection:
        run_ids = set(connection.execute(select(matches.c.run_id)).scalars())
    assert run_ids == {"run-b"}
    row = _row(store, "d-b3")
    assert (row.first_run_id, row.last_run_id, row.status) == ("run-a", "run-b", "open")


def test_carry_forward_reports_new_resolved_and_late_data_match_changes(store: Engine) -> None:
    day1 = result(
        links=[link("m-1", "b1", "l1"), link("m-2", "b2", "l2")],
        discrepancies=[discrepancy("d-old", "unmatched_bank", 100, bank="b3", as_of=DAY1),
                       discrepancy("d-stay", "unmatched_ledger", 300, side="ledger",
                                   ledger="l7", as_of=DAY1)],
    )
    day2 = result(
        # late ledger data: b2 now matches a different entry, b3 found its ledger entry
        links=[link("m-1", "b1", "l1"), link("m-2b", "b2", "l2b"), link("m-3", "b3", "l3")],
        discrepancies=[discrepancy("d-stay", "unmatched_ledger", 300, side="ledger",
                                   ledger="l7", as_of=DAY2, explanation="still missing"),
                       discrepancy("d-new", "unmatched_bank", 900, bank="b9", as_of=DAY2)],
    )
    first = _save(store, "run-1", DAY1, day1)
    carry = _save(store, "run-2", DAY2, day2)

    assert first.changes.previous_as_of is None
    assert {r.discrepancy_id for r in first.changes.new_discrepancies} == {"d-old", "d-stay"}
    changes = carry.changes
    assert changes.previous_as_of == DAY1
    assert [r.discrepancy_id for r in changes.new_discrepancies] == ["d-new"]
    assert [r.discrepancy_id for r in changes.resolved_discrepancies] == ["d-old"]
    assert changes.resolved_discrepancies[0].amount_minor == 100
    assert changes.matches_added == ("m-2b", "m-3")
    assert changes.matches_removed == ("m-2",)
    assert carry.annotations["d-stay"].first_seen == DAY1
    assert carry.annotations["d-new"].first_seen == DAY2

    old = _row(store, "d-old")
    assert (old.status, old.resolved_run_id, old.resolved_on) == ("resolved", "run-2", DAY2)
    stay = _row(store, "d-stay")
    assert (stay.first_seen, stay.last_seen, stay.first_run_id, stay.last_run_id) == (
        DAY1, DAY2, "run-1", "run-2")
    assert stay.explanation == "still missing"


def test_analyst_status_owner_and_notes_survive_later_runs(store: Engine) -> None:
    item = discrepancy("d-1", "unmatched_bank", 100, bank="b1", as_of=DAY1)
    _save(store, "run-1", DAY1, result(discrepancies=[item]))
    with store.begin() as connection:
        connection.execute(update(discrepancies).values(
            status="explained", owner="ana", notes="timing: clears on Monday"))

    carry = _save(store, "run-2", DAY2, result(discrepancies=[{**item, "age_days": 3}]))

    annotation = carry.annotations["d-1"]
    assert (annotation.status, annotation.owner, annotation.notes) == (
        "explained", "ana", "timing: clears on Monday")
    assert _row(store, "d-1").status == "explained"


def test_a_backfill_of_an_older_date_neither_resolves_newer_items_nor_moves_last_seen(
    store: Engine,
) -> None:
    newer = discrepancy("d-new", "unmatched_bank", 100, bank="b1", as_of=DAY2)
    _save(store, "run-2", DAY2, result(discrepancies=[newer]))
    older = discrepancy("d-new", "unmatched_bank", 100, bank="b1", as_of=DAY1,
                        explanation="older view")
    _save(store, "run-1", DAY1, result(discrepancies=[older]))
    _save(store, "run-0", DAY1 - timedelta(days=1), result())  # nothing reported that day

    row = _row(store, "d-new")
    assert (row.status, row.first_seen, row.last_seen) == ("open", DAY1, DAY2)
    assert (row.first_run_id, row.last_run_id) == ("run-1", "run-2")
    assert row.explanation == "no candidate within tolerance"  # the newest run's view wins


def test_a_resolved_item_that_comes_back_is_open_again(store: Engine) -> None:
    item = discrepancy("d-1", "unmatched_bank", 100, bank="b1", as_of=DAY1)
    _save(store, "run-1", DAY1, result(discrepancies=[item]))
    _save(store, "run-2", DAY2, result(links=[link("m-1", "b1", "l1")]))
    assert _row(store, "d-1").status == "resolved"

    carry = _save(store, "run-3", DAY2 + timedelta(days=1), result(discrepancies=[item]))

    row = _row(store, "d-1")
    assert (row.status, row.resolved_run_id, row.resolved_on) == ("open", None, None)
    assert carry.annotations["d-1"].status == "open"
    assert [r.discrepancy_id for r in carry.changes.new_discrepancies] == ["d-1"]


def test_an_account_scoped_run_only_replaces_and_resolves_its_own_accounts(store: Engine) -> None:
    both = result(
        links=[link("m-usd", "b1", "l1"), link("m-eur", "e1", "le1", account="ops-eur",
                                                 currency="EUR")],
        discrepancies=[discrepancy("d-usd", "unmatched_bank", 100, bank="b2", as_of=DAY1),
                       discrepancy("d-eur", "unmatched_bank", 100, bank="e2", as_of=DAY1,
                                   account="ops-eur", currency="EUR")],
    )
    _save(store, "run-1", DAY1, both)
    _save(store, "run-2", DAY1, result(), accounts=["ops-usd"])

    assert _row(store, "d-usd").status == "resolved"
    assert _row(store, "d-eur").status == "open"
    with store.connect() as connection:
        assert set(connection.execute(select(matches.c.match_id)).scalars()) == {"m-eur"}
        assert set(connection.execute(
            select(discrepancy_sightings.c.discrepancy_id)).scalars()) == {"d-eur"}
