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

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

import pandas as pd
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from recon import records
from recon.carry import OPEN, RESOLVED, Annotation, CarryForward, Changes, DiscrepancyRef
from recon.frames import MatchResult, cell_date
from recon.records import DISCREPANCY_COLUMNS, LINK_COLUMNS, Discrepancy, Link
from recon.store.schema import discrepancies, discrepancy_sightings, matches

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

    previous_as_of = _previous_as_of(connection, as_of, scope)
    previous_ids: set[str] = set()
    previous_match_ids: set[str] = set()
    if previous_as_of is not None:
        previous_ids = _sighted_ids(connection, previous_as_of, scope)
        previous_match_ids = _match_ids(connection, previous_as_of, scope)

    _replace_matches(connection, run_id, as_of, links, scope)
    annotations = _upsert_discrepancies(connection, run_id, as_of, reported)
    _resolve_missing(connection, run_id, as_of, reported_ids, scope)
    _replace_sightings(connection, run_id, as_of, reported_ids, scope)

    current_match_ids = {str(link["match_id"]) for link in links}
    new_refs = tuple(_ref(r) for r in reported if r["discrepancy_id"] not in previous_ids)
    resolved_refs = _load_refs(connection, sorted(previous_ids - reported_ids))
    changes = Changes(
        previous_as_of=previous_as_of,
        new_discrepancies=new_refs,
        resolved_discrepancies=resolved_refs,
        matches_added=tuple(sorted(current_match_ids - previous_match_ids)),
        matches_removed=tuple(sorted(previous_match_ids - current_match_ids)),
    )
    return CarryForward(as_of=as_of, annotations=annotations, changes=changes)


# --- frames to rows -----------------------------------------------------------------------


# Every column of a link is stored; of an open item, all but its age (which grows by itself).
_STORED_LINK: Final = LINK_COLUMNS
_STORED_DISCREPANCY: Final = tuple(c for c in DISCREPANCY_COLUMNS if c != "age_days")


def _row(record: Link | Discrepancy, names: tuple[str, ...]) -> dict[str, Any]:
    """A record's fields as table values (enums by their text)."""
    row = {name: getattr(record, name) for name in names}
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in row.items()}


def _link_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = {
        (link.match_id, link.bank_transaction_id, link.ledger_entry_id): _row(link, _STORED_LINK)
        for link in records.links(frame)
    }
    return list(rows.values())


def _discrepancy_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = {
        item.discrepancy_id: _row(item, _STORED_DISCREPANCY)
        for item in records.discrepancies(frame)
    }
    return list(rows.values())


def _ref(record: Mapping[str, Any]) -> DiscrepancyRef:
    return DiscrepancyRef(
        discrepancy_id=record["discrepancy_id"],
        kind=record["kind"],
        account=record["account"],
        currency=record["currency"],
        amount_minor=int(record["amount_minor"]),
        date=record["date"],
        description=record["description"],
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


def _previous_as_of(
    connection: Connection, as_of: date, scope: Sequence[str] | None
) -> date | None:
    sighting_query = select(func.max(discrepancy_sightings.c.as_of)).where(
        discrepancy_sightings.c.as_of < as_of
    )
    sighting_filter = _sighting_scope(scope)
    if sighting_filter is not None:
        sighting_query = sighting_query.where(sighting_filter)
    match_query = select(func.max(matches.c.as_of)).where(matches.c.as_of < as_of)
    if scope is not None:
        match_query = match_query.where(matches.c.account.in_(scope))
    candidates = [connection.execute(q).scalar_one_or_none() for q in (sighting_query, match_query)]
    dates = [cell_date(d) for d in candidates if d is not None]
    return max((d for d in dates if d is not None), default=None)


def _sighted_ids(connection: Connection, as_of: date, scope: Sequence[str] | None) -> set[str]:
    query = select(discrepancy_sightings.c.discrepancy_id).where(
        discrepancy_sightings.c.as_of == as_of
    )
    sighting_filter = _sighting_scope(scope)
    if sighting_filter is not None:
        query = query.where(sighting_filter)
    return set(connection.execute(query).scalars())


def _match_ids(connection: Connection, as_of: date, scope: Sequence[str] | None) -> set[str]:
    query = select(matches.c.match_id).where(matches.c.as_of == as_of).distinct()
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
    reported_ids: set[str],
    scope: Sequence[str] | None,
) -> None:
    statement = delete(discrepancy_sightings).where(discrepancy_sightings.c.as_of == as_of)
    sighting_filter = _sighting_scope(scope)
    if sighting_filter is not None:
        statement = statement.where(sighting_filter)
    connection.execute(statement)
    if reported_ids:
        connection.execute(
            insert(discrepancy_sightings),
            [{"as_of": as_of, "discrepancy_id": i, "run_id": run_id} for i in sorted(reported_ids)],
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


def _load_refs(connection: Connection, ids: Sequence[str]) -> tuple[DiscrepancyRef, ...]:
    refs = [
        DiscrepancyRef(
            discrepancy_id=row.discrepancy_id,
            kind=row.kind,
            account=row.account,
            currency=row.currency,
            amount_minor=int(row.amount_minor),
            date=row.date,
            description=row.description,
        )
        for row in _rows_by_id(connection, ids)
    ]
    return tuple(sorted(refs, key=lambda r: r.discrepancy_id))


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
