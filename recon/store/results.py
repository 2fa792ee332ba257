"""Saving a reconciliation and carrying open items forward from night to night.

:func:`save_reconciliation` runs inside the caller's transaction and is idempotent per as-of
date: the ``matches`` and ``discrepancy_sightings`` rows of that date are replaced as a whole,
and ``discrepancies`` (one row per item ever seen) are upserted by their stable id. What the
analysts wrote (status explained / written_off, owner, notes) is never overwritten by a run.

Backfills run older dates after newer ones, so dates only move forward: ``first_seen`` is the
earliest as-of that saw an item, ``last_seen`` the latest, and only a run whose as-of is on or
after an item's ``last_seen`` may resolve it (an old date cannot close what a newer run saw).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

import pandas as pd
from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from recon.carry import OPEN, RESOLVED, Annotation, CarryForward, Changes, DiscrepancyRef
from recon.errors import ExitCode
from recon.frames import MatchResult, cell_date
from recon.store.schema import discrepancies, discrepancy_sightings, matches, runs

_CHUNK: Final = 2_000  # ids per IN (...) list: well below SQLite's and PostgreSQL's limits


def save_reconciliation(
    connection: Connection,
    *,
    run_id: str,
    as_of: date,
    result: MatchResult,
    accounts: Collection[str] | None = None,
) -> CarryForward:
    """Store ``result`` as the reconciliation of ``as_of`` and return what carried forward.

    ``accounts`` scopes the replace and the resolution to the ledger accounts this run covered
    (several account sets can share a store); ``None`` means the run covered every account.
    The caller owns the transaction (``with engine.begin() as connection``).
    """
    scope = sorted(accounts) if accounts is not None else None
    links = _link_records(result.links)
    reported = _discrepancy_records(result.discrepancies)
    reported_ids = {r["discrepancy_id"] for r in reported}

    previous = _previous_run(connection, run_id, scope)
    before: dict[str, Any] = {}
    previous_match_ids: set[str] = set()
    if previous is not None:
        before = _sightings_of(connection, previous, scope)
        previous_match_ids = _match_ids(connection, previous, scope)

    _replace_matches(connection, run_id, as_of, links, scope)
    annotations = _upsert_discrepancies(connection, run_id, as_of, reported)
    _resolve_missing(connection, run_id, as_of, reported_ids, scope)
    _replace_sightings(connection, run_id, as_of, reported, annotations, scope)

    current_match_ids = {str(link["match_id"]) for link in links}
    linked_ids = {str(link["bank_transaction_id"]) for link in links} | {
        str(link["ledger_entry_id"]) for link in links}
    new_refs, amount_changes, status_changes = [], [], []
    for record in reported:
        ref = _ref(record)
        seen = before.get(ref.discrepancy_id)
        note = annotations[ref.discrepancy_id]
        if seen is None:
            new_refs.append(ref)
            continue
        if seen.amount_minor is not None and int(seen.amount_minor) != ref.amount_minor:
            amount_changes.append(replace(ref, previous_amount_minor=int(seen.amount_minor)))
        if seen.status is not None and (seen.status, seen.owner) != (note.status, note.owner):
            status_changes.append(replace(ref, previous_status=seen.status,
                                          previous_owner=seen.owner, status=note.status,
                                          owner=note.owner))
    resolved_refs = tuple(
        replace(ref, how=_how_resolved(ref, status, linked_ids))
        for ref, status in _load_refs(connection, sorted(set(before) - reported_ids))
    )
    changes = Changes(
        previous_run_id=previous.run_id if previous else None,
        previous_as_of=previous.as_of if previous else None,
        new_discrepancies=tuple(new_refs),
        resolved_discrepancies=resolved_refs,
        matches_added=tuple(sorted(current_match_ids - previous_match_ids)),
        matches_removed=tuple(sorted(previous_match_ids - current_match_ids)),
        amount_changes=tuple(amount_changes),
        status_changes=tuple(status_changes),
    )
    return CarryForward(as_of=as_of, annotations=annotations, changes=changes)


def _how_resolved(ref: DiscrepancyRef, status: str, linked_ids: set[str]) -> str:
    if status in ("explained", "written_off"):
        return status.replace("_", " ")
    if ref.bank_transaction_id in linked_ids or ref.ledger_entry_id in linked_ids:
        return "matched late"
    return "no longer in the data (removed at the source or left the window)"


# --- frames to rows -----------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _rows(frame: pd.DataFrame) -> Iterator[Any]:
    rows: Iterable[Any] = frame.itertuples(index=False)
    return iter(rows)


def _link_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in _rows(frame):
        key = (str(row.match_id), _text(row.bank_transaction_id), _text(row.ledger_entry_id))
        records[key] = {
            "match_id": key[0],
            "bank_transaction_id": key[1],
            "ledger_entry_id": key[2],
            "status": str(row.status),
            "rule": _text(row.rule),
            "score": float(row.score),
            "amount_difference_minor": int(row.amount_difference_minor),
            "date_difference_days": int(row.date_difference_days),
            "account": _text(row.account),
            "currency": _text(row.currency),
            "explanation": _text(row.explanation),
        }
    return list(records.values())


def _discrepancy_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for row in _rows(frame):
        records[str(row.discrepancy_id)] = {
            "discrepancy_id": str(row.discrepancy_id),
            "kind": str(row.kind),
            "side": str(row.side),
            "bank_transaction_id": _text(row.bank_transaction_id),
            "ledger_entry_id": _text(row.ledger_entry_id),
            "account": _text(row.account),
            "currency": _text(row.currency),
            "amount_minor": int(row.amount_minor),
            "date": cell_date(row.date),
            "description": _text(row.description),
            "explanation": _text(row.explanation),
            "nearest_candidate": _text(row.nearest_candidate),
        }
    return list(records.values())


def _ref(record: Mapping[str, Any]) -> DiscrepancyRef:
    return DiscrepancyRef(
        discrepancy_id=record["discrepancy_id"],
        kind=record["kind"],
        account=record["account"],
        currency=record["currency"],
        amount_minor=int(record["amount_minor"]),
        date=record["date"],
        description=record["description"],
        bank_transaction_id=record["bank_transaction_id"],
        ledger_entry_id=record["ledger_entry_id"],
    )


# --- queries ------------------------------------------------------------------------------


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _sighting_scope(scope: Sequence[str] | None) -> ColumnElement[bool] | None:
    if scope is None:
        return None
    in_scope = select(discrepancies.c.discrepancy_id).where(discrepancies.c.account.in_(scope))
    return discrepancy_sightings.c.discrepancy_id.in_(in_scope)


@dataclass(frozen=True)
class _RunRef:
    run_id: str
    as_of: date


_PREVIOUS_RUNS_LOOKED_AT: Final = 200  # runs that saved nothing (failed early) are skipped


def _previous_run(
    connection: Connection, run_id: str, scope: Sequence[str] | None
) -> _RunRef | None:
    """The latest other complete run (it finished with every bank synced, so its reports went
    out whole) whose results (sightings or matches) for these accounts remain. A run that
    crashed, failed or missed a bank (exit 69) is no baseline for "changes since"."""
    complete = (int(ExitCode.OK), int(ExitCode.DISCREPANCIES_ABOVE_THRESHOLD))
    candidates = connection.execute(
        select(runs.c.run_id, runs.c.as_of)
        .where(runs.c.run_id != run_id, runs.c.as_of.is_not(None),
               runs.c.state == "succeeded", runs.c.exit_code.in_(complete))
        .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        .limit(_PREVIOUS_RUNS_LOOKED_AT)
    ).all()
    for candidate in candidates:
        day = cell_date(candidate.as_of)
        assert day is not None
        sighting = select(discrepancy_sightings.c.discrepancy_id).where(
            discrepancy_sightings.c.as_of == day,
            discrepancy_sightings.c.run_id == candidate.run_id,
        )
        sighting_filter = _sighting_scope(scope)
        if sighting_filter is not None:
            sighting = sighting.where(sighting_filter)
        match = select(matches.c.match_id).where(
            matches.c.as_of == day, matches.c.run_id == candidate.run_id
        )
        if scope is not None:
            match = match.where(matches.c.account.in_(scope))
        if (connection.execute(sighting.limit(1)).first() is not None
                or connection.execute(match.limit(1)).first() is not None):
            return _RunRef(str(candidate.run_id), day)
    return None


def _sightings_of(
    connection: Connection, run: _RunRef, scope: Sequence[str] | None
) -> dict[str, Any]:
    s = discrepancy_sightings
    query = select(s.c.discrepancy_id, s.c.amount_minor, s.c.status, s.c.owner).where(
        s.c.as_of == run.as_of, s.c.run_id == run.run_id
    )
    sighting_filter = _sighting_scope(scope)
    if sighting_filter is not None:
        query = query.where(sighting_filter)
    return {row.discrepancy_id: row for row in connection.execute(query)}


def _match_ids(connection: Connection, run: _RunRef, scope: Sequence[str] | None) -> set[str]:
    query = (
        select(matches.c.match_id)
        .where(matches.c.as_of == run.as_of, matches.c.run_id == run.run_id)
        .distinct()
    )
    if scope is not None:
        query = query.where(matches.c.account.in_(scope))
    return set(connection.execute(query).scalars())


def _replace_matches(
    connection: Connection,
    run_id: str,
    as_of: date,
    links: list[dict[str, Any]],
    scope: Sequence[str] | None,
) -> None:
    statement = delete(matches).where(matches.c.as_of == as_of)
    if scope is not None:
        statement = statement.where(matches.c.account.in_(scope))
    connection.execute(statement)
    if links:
        connection.execute(
            insert(matches), [{**link, "as_of": as_of, "run_id": run_id} for link in links]
        )


def _replace_sightings(
    connection: Connection,
    run_id: str,
    as_of: date,
    reported: list[dict[str, Any]],
    annotations: Mapping[str, Annotation],
    scope: Sequence[str] | None,
) -> None:
    statement = delete(discrepancy_sightings).where(discrepancy_sightings.c.as_of == as_of)
    sighting_filter = _sighting_scope(scope)
    if sighting_filter is not None:
        statement = statement.where(sighting_filter)
    connection.execute(statement)
    if reported:
        connection.execute(
            insert(discrepancy_sightings),
            [
                {
                    "as_of": as_of,
                    "discrepancy_id": r["discrepancy_id"],
                    "run_id": run_id,
                    "amount_minor": r["amount_minor"],
                    "status": annotations[r["discrepancy_id"]].status,
                    "owner": annotations[r["discrepancy_id"]].owner,
                }
                for r in sorted(reported, key=lambda r: str(r["discrepancy_id"]))
            ],
        )


def _rows_by_id(connection: Connection, ids: Sequence[str]) -> Iterator[Any]:
    for chunk in _chunks(ids):
        yield from connection.execute(
            select(discrepancies).where(discrepancies.c.discrepancy_id.in_(chunk))
        )


def _reported_status(stored: str) -> str:
    return OPEN if stored == RESOLVED else stored


def _upsert_discrepancies(
    connection: Connection, run_id: str, as_of: date, reported: list[dict[str, Any]]
) -> dict[str, Annotation]:
    existing = {
        row.discrepancy_id: row
        for row in _rows_by_id(connection, [r["discrepancy_id"] for r in reported])
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    annotations: dict[str, Annotation] = {}
    for record in reported:
        row = existing.get(record["discrepancy_id"])
        if row is None:
            inserts.append(
                {
                    **record,
                    "first_seen": as_of,
                    "last_seen": as_of,
                    "first_run_id": run_id,
                    "last_run_id": run_id,
                    "resolved_run_id": None,
                    "resolved_on": None,
                    "status": OPEN,
                    "owner": None,
                    "notes": None,
                }
            )
            annotations[record["discrepancy_id"]] = Annotation(as_of, OPEN, None, None)
            continue
        first_seen, first_run_id = row.first_seen, row.first_run_id
        if as_of < first_seen:
            first_seen, first_run_id = as_of, run_id
        is_latest = as_of >= row.last_seen
        status, resolved_run_id, resolved_on = row.status, row.resolved_run_id, row.resolved_on
        if row.status == RESOLVED and (row.resolved_on is None or as_of >= row.resolved_on):
            status, resolved_run_id, resolved_on = OPEN, None, None  # it came back
        # The newest run's view of the item wins; a backfill of an older date only widens dates.
        fresh = record if is_latest else {k: getattr(row, k) for k in record}
        updates.append(
            {
                **{f"v_{k}": v for k, v in fresh.items() if k != "discrepancy_id"},
                "b_id": record["discrepancy_id"],
                "v_first_seen": first_seen,
                "v_first_run_id": first_run_id,
                "v_last_seen": as_of if is_latest else row.last_seen,
                "v_last_run_id": run_id if is_latest else row.last_run_id,
                "v_status": status,
                "v_resolved_run_id": resolved_run_id,
                "v_resolved_on": resolved_on,
            }
        )
        annotations[record["discrepancy_id"]] = Annotation(
            first_seen, _reported_status(status), row.owner, row.notes
        )
    if inserts:
        connection.execute(insert(discrepancies), inserts)
    if updates:
        columns = [k[2:] for k in updates[0] if k.startswith("v_")]
        statement = (
            update(discrepancies)
            .where(discrepancies.c.discrepancy_id == bindparam("b_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        connection.execute(statement, updates)
    return annotations


def _resolve_missing(
    connection: Connection,
    run_id: str,
    as_of: date,
    reported_ids: set[str],
    scope: Sequence[str] | None,
) -> None:
    query = select(discrepancies.c.discrepancy_id).where(
        and_(discrepancies.c.status == OPEN, discrepancies.c.last_seen <= as_of)
    )
    if scope is not None:
        query = query.where(discrepancies.c.account.in_(scope))
    gone = sorted(set(connection.execute(query).scalars()) - reported_ids)
    for chunk in _chunks(gone):
        connection.execute(
            update(discrepancies)
            .where(discrepancies.c.discrepancy_id.in_(chunk))
            .values(status=RESOLVED, resolved_run_id=run_id, resolved_on=as_of)
        )


def _load_refs(
    connection: Connection, ids: Sequence[str]
) -> list[tuple[DiscrepancyRef, str]]:
    """(reference, stored status) of each id, by id."""
    refs = [
        (
            DiscrepancyRef(
                discrepancy_id=row.discrepancy_id,
                kind=row.kind,
                account=row.account,
                currency=row.currency,
                amount_minor=int(row.amount_minor),
                date=row.date,
                description=row.description,
                bank_transaction_id=row.bank_transaction_id,
                ledger_entry_id=row.ledger_entry_id,
            ),
            str(row.status),
        )
        for row in _rows_by_id(connection, ids)
    ]
    return sorted(refs, key=lambda r: r[0].discrepancy_id)


@dataclass(frozen=True)
class CarriedItems:
    """Unresolved discrepancies dated before a window: their rows join that window's matching,
    so an item older than the window stays open (and can still match late data) instead of
    silently dropping out of the reconciliation."""

    bank_transaction_ids: frozenset[str]
    ledger_entry_ids: frozenset[str]
    earliest: date | None


def carried_items(
    connection: Connection, *, before: date, accounts: Collection[str]
) -> CarriedItems:
    """Open and explained (not written-off, not resolved) discrepancies dated before ``before``."""
    rows = connection.execute(
        select(
            discrepancies.c.bank_transaction_id,
            discrepancies.c.ledger_entry_id,
            discrepancies.c.date,
        ).where(
            discrepancies.c.status.in_((OPEN, "explained")),
            discrepancies.c.date < before,
            discrepancies.c.account.in_(sorted(accounts)),
        )
    ).all()
    return CarriedItems(
        bank_transaction_ids=frozenset(
            r.bank_transaction_id for r in rows if r.bank_transaction_id
        ),
        ledger_entry_ids=frozenset(r.ledger_entry_id for r in rows if r.ledger_entry_id),
        earliest=min((r.date for r in rows), default=None),
    )
