"""Reading analysts' work back from a report workbook: ``recon annotations import``.

Three things come back, all applied in one transaction or not at all:

- status / owner / notes of each open item (the "Timing items" and "Needs action" sheets; an
  item that folds two discrepancies, such as a pending bank row and its ledger entry, applies
  the same values to both);
- accept / reject decisions on suggested links ("Review suggestions"), recorded in
  ``link_reviews`` and applied by every later run;
- who prepared and who reviewed each account's statement ("Statement").

The hidden ``_meta`` sheet names the run the workbook came from. Ids are stable, so a workbook
made before a same-date re-run is still accepted: its rows are matched by id with the latest
reconciliation of that date, and rows whose item has resolved (or whose suggestion is no longer
offered) since are skipped and counted. An id that never belonged to that date's
reconciliation (an edited id), invalid values and a workbook of another account set are refused
with every problem listed by sheet, row and column. A resolved item is never reopened by a
stale ``open`` in the workbook.
"""

from __future__ import annotations

import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import Connection, Engine, bindparam, select, update

from recon.carry import ANALYST_STATUSES, RESOLVED, SignOff
from recon.errors import InputError, RowProblem
from recon.ledger.xlsx_source import is_formula
from recon.limits import check_xlsx
from recon.reporting.excel import (
    ITEM_SHEETS,
    META_FORMAT,
    META_SHEET,
    REVIEW_SHEET,
    STATEMENT_SHEET,
    discrepancy_id_checksum,
)
from recon.reporting.model import Category
from recon.store.reviews import ACCEPTED, REJECTED, LinkDecision, record_link_decisions
from recon.store.reviews import save_sign_offs as store_sign_offs
from recon.store.schema import discrepancies, discrepancy_sightings, matches

MAX_OWNER: Final = 100
MAX_NOTES: Final = 2_000
MAX_REVIEWER: Final = 100
_CHUNK: Final = 2_000
_DECISIONS: Final = {"accept": ACCEPTED, "accepted": ACCEPTED, "reject": REJECTED,
                     "rejected": REJECTED}


@dataclass(frozen=True)
class AnnotationImport:
    source: str
    run_id: str
    as_of: date
    account_set: str
    rows_read: int
    updated: tuple[str, ...]  # discrepancy ids whose status, owner or notes changed
    statuses: dict[str, int] = field(default_factory=dict)  # new status -> items set to it
    accepted: int = 0  # suggested groups accepted
    rejected: int = 0
    sign_offs: int = 0
    skipped: int = 0  # rows whose item resolved or whose suggestion went since

    def summary_line(self) -> str:
        """One line for a person: what the import did."""
        changes = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.statuses.items()))
        parts = [f"{len(self.updated)} item{'s' if len(self.updated) != 1 else ''} updated"
                 + (f" ({changes})" if changes else ""),
                 f"{self.accepted} suggestion{'s' if self.accepted != 1 else ''} accepted",
                 f"{self.rejected} rejected",
                 f"{self.sign_offs} sign-off{'s' if self.sign_offs != 1 else ''} recorded"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (resolved or no longer suggested since)")
        return (f"{self.source}: {self.rows_read} rows read from the reconciliation as of "
                f"{self.as_of.isoformat()}: " + ", ".join(parts))

    def __str__(self) -> str:
        return self.summary_line()


@dataclass(frozen=True)
class _Row:
    sheet: str
    row: int
    ids: tuple[str, ...]  # the item's discrepancy ids
    status: str | None  # None: the cell is empty, keep the stored status
    owner: str | None
    notes: str | None


@dataclass(frozen=True)
class _Decision:
    sheet: str
    row: int
    match_id: str
    decision: str
    reviewer: str


@dataclass(frozen=True)
class _Meta:
    run_id: str
    as_of: date
    account_set: str
    checksum: str


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _read_meta(workbook: Any, source: str) -> _Meta:
    if META_SHEET not in workbook.sheetnames:
        raise InputError(f"sheet {META_SHEET!r} is missing: not a recon report workbook", source)
    values: dict[str, str] = {}
    for row in workbook[META_SHEET].iter_rows(min_row=1, max_col=2, values_only=True):
        if row and row[0] is not None:
            values[str(row[0])] = "" if row[1] is None else str(row[1])
    where = f"{source} [{META_SHEET}]"
    problems = [RowProblem(where, None, key, "missing")
                for key in ("format", "run_id", "as_of", "account_set", "discrepancy_id_sha256")
                if not values.get(key)]
    if not problems and values["format"] != META_FORMAT:
        problems.append(RowProblem(where, None, "format",
                                   f"unsupported workbook format {values['format']!r} "
                                   "(made by an older recon: annotate a newer report)"))
    try:
        as_of = date.fromisoformat(values.get("as_of", ""))
    except ValueError:
        problems.append(RowProblem(where, None, "as_of", "not a date"))
    if problems:
        raise InputError(problems, source)
    return _Meta(values["run_id"], as_of, values["account_set"], values["discrepancy_id_sha256"])


def _table(workbook: Any, title: str, source: str, wanted: Sequence[str],
           problems: list[RowProblem]) -> Iterator[tuple[int, dict[str, Any]]]:  # fmt: skip
    """(row number, {column: value}) of a sheet whose header row holds ``wanted[0]``."""
    where = f"{source} [{title}]"
    if title not in workbook.sheetnames:
        problems.append(RowProblem(where, None, None, "sheet is missing"))
        return
    columns: dict[str, int] | None = None
    for number, values in enumerate(workbook[title].iter_rows(values_only=True), start=1):
        if columns is None:
            names = {str(v).strip().lower(): i for i, v in enumerate(values) if v is not None}
            if wanted[0].lower() in names:
                missing = [c for c in wanted if c.lower() not in names]
                if missing:
                    problems.append(RowProblem(where, number, None,
                                               f"missing column(s) {', '.join(missing)}"))
                    return
                columns = {c: names[c.lower()] for c in wanted}
            continue
        yield number, {c: values[i] if i < len(values) else None for c, i in columns.items()}
    if columns is None:
        problems.append(RowProblem(where, None, None, f"no header row with {wanted[0]!r}"))


def _letter(wanted: Sequence[str], name: str) -> str:
    return f"{get_column_letter(list(wanted).index(name) + 1)} ({name})"


ITEM_WANTED: Final = ("Item id", "Status", "Owner", "Notes", "Also covers", "Line")
REVIEW_WANTED: Final = ("Match id", "Decision", "Reviewer")


def _read_items(workbook: Any, source: str, problems: list[RowProblem]) -> list[_Row]:
    rows: list[_Row] = []
    for title in ITEM_SHEETS:
        where = f"{source} [{title}]"
        for number, cells in _table(workbook, title, source, ITEM_WANTED, problems):
            item_id = _cell_text(cells["Item id"])
            status, owner, notes = (_cell_text(cells[n]) for n in ("Status", "Owner", "Notes"))
            if _cell_text(cells["Line"]) == Category.LINK_DIFFERENCE:
                continue  # a difference on a matched group: nothing to annotate
            if item_id is None:
                if status or owner or notes:
                    problems.append(RowProblem(where, number, _letter(ITEM_WANTED, "Item id"),
                                               "annotation without an item id"))
                continue
            if status is not None and status not in ANALYST_STATUSES:
                problems.append(RowProblem(where, number, _letter(ITEM_WANTED, "Status"),
                                           f"status must be one of {', '.join(ANALYST_STATUSES)}"))
            if owner is not None and len(owner) > MAX_OWNER:
                problems.append(RowProblem(where, number, _letter(ITEM_WANTED, "Owner"),
                                           f"owner is longer than {MAX_OWNER} characters"))
            if notes is not None and len(notes) > MAX_NOTES:
                problems.append(RowProblem(where, number, _letter(ITEM_WANTED, "Notes"),
                                           f"notes are longer than {MAX_NOTES} characters"))
            also = [i.strip() for i in (_cell_text(cells["Also covers"]) or "").split(";")]
            rows.append(_Row(title, number, (item_id, *(i for i in also if i)), status, owner,
                             notes))
    return rows


def _read_decisions(workbook: Any, source: str, problems: list[RowProblem]) -> list[_Decision]:
    where = f"{source} [{REVIEW_SHEET}]"
    found: dict[str, _Decision] = {}
    for number, cells in _table(workbook, REVIEW_SHEET, source, REVIEW_WANTED, problems):
        match_id = _cell_text(cells["Match id"])
        decision = _cell_text(cells["Decision"])
        reviewer = _cell_text(cells["Reviewer"])
        if decision is None:
            continue
        value = _DECISIONS.get(decision.lower())
        if value is None:
            problems.append(RowProblem(where, number, _letter(REVIEW_WANTED, "Decision"),
                                       "decision must be accept or reject"))
            continue
        if match_id is None:
            problems.append(RowProblem(where, number, _letter(REVIEW_WANTED, "Match id"),
                                       "decision without a match id"))
            continue
        if reviewer is None or len(reviewer) > MAX_REVIEWER:
            problems.append(RowProblem(where, number, _letter(REVIEW_WANTED, "Reviewer"),
                                       f"say who decided (at most {MAX_REVIEWER} characters)"))
            continue
        earlier = found.get(match_id)
        if earlier is not None and earlier.decision != value:
            problems.append(RowProblem(where, number, _letter(REVIEW_WANTED, "Decision"),
                                       f"row {earlier.row} decides the other way for the same "
                                       "suggested group"))
            continue
        found.setdefault(match_id, _Decision(REVIEW_SHEET, number, match_id, value, reviewer))
    return list(found.values())


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell_text(value)
    return None if text is None else date.fromisoformat(text)


def _read_sign_offs(
    workbook: Any, source: str, problems: list[RowProblem]
) -> dict[str, SignOff]:
    where = f"{source} [{STATEMENT_SHEET}]"
    if STATEMENT_SHEET not in workbook.sheetnames:
        problems.append(RowProblem(where, None, None, "sheet is missing"))
        return {}
    found: dict[str, dict[str, Any]] = {}
    account: str | None = None
    expect_account = False
    for number, values in enumerate(
        workbook[STATEMENT_SHEET].iter_rows(max_col=3, values_only=True), start=1
    ):
        label = _cell_text(values[0]) if values else None
        if expect_account:
            account, expect_account = _cell_text(values[1]) if len(values) > 1 else None, False
            continue
        if label == "Bank reconciliation statement":
            expect_account = True
            continue
        if account is None or label is None or not label.startswith(("Prepared by",
                                                                      "Reviewed by")):
            continue
        role = "prepared" if label.startswith("Prepared") else "reviewed"
        name = _cell_text(values[1]) if len(values) > 1 else None
        try:
            when = _as_date(values[2]) if len(values) > 2 else None
        except ValueError:
            problems.append(RowProblem(where, number, "C (date)", "not a YYYY-MM-DD date"))
            continue
        if name is not None and len(name) > MAX_REVIEWER:
            problems.append(RowProblem(where, number, "B (name)",
                                       f"longer than {MAX_REVIEWER} characters"))
            continue
        found.setdefault(account, {})[role] = (name, when)
    result = {}
    for name, roles in found.items():
        prepared_by, prepared_on = roles.get("prepared", (None, None))
        reviewed_by, reviewed_on = roles.get("reviewed", (None, None))
        if any((prepared_by, prepared_on, reviewed_by, reviewed_on)):
            result[name] = SignOff(prepared_by, prepared_on, reviewed_by, reviewed_on)
    return result


def _formulas_without_values(path: Path, source: str) -> list[RowProblem]:
    """Annotation cells that are formulas Excel never computed (a file saved by a tool that
    does not calculate): their value reads as empty, so they are refused, never imported as
    empty. Only the cells the import reads are looked at."""
    problems: list[RowProblem] = []
    workbook = load_workbook(path, read_only=True, data_only=False)
    try:
        scratch: list[RowProblem] = []  # sheets or headers that are missing: reported already
        for title, wanted, editable in (
            *((t, ITEM_WANTED, ("Status", "Owner", "Notes")) for t in ITEM_SHEETS),
            (REVIEW_SHEET, REVIEW_WANTED, ("Decision", "Reviewer")),
        ):
            for number, cells in _table(workbook, title, source, wanted, scratch):
                for name in editable:
                    if is_formula(cells[name]):
                        problems.append(RowProblem(
                            f"{source} [{title}]", number, _letter(wanted, name),
                            "formula without a cached value (open and save the file in Excel "
                            "so the value is computed, or type the text)"))
        if STATEMENT_SHEET in workbook.sheetnames:
            for number, values in enumerate(
                workbook[STATEMENT_SHEET].iter_rows(max_col=3, values_only=True), start=1
            ):
                label = _cell_text(values[0]) if values else None
                if label and label.startswith(("Prepared by", "Reviewed by")) and any(
                        is_formula(v) for v in values[1:]):
                    problems.append(RowProblem(f"{source} [{STATEMENT_SHEET}]", number, "B:C",
                                               "formula without a cached value"))
    finally:
        workbook.close()
    return problems


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def import_annotations(
    engine: Engine, path: Path, *, expected_account_set: str | None = None,
    now: datetime | None = None,
) -> AnnotationImport:  # fmt: skip
    """Validate the workbook's annotations against the store and apply them atomically."""
    source = path.name
    with warnings.catch_warnings():
        # Data bars and other formatting extensions are not read by openpyxl, nor needed here.
        warnings.filterwarnings("ignore", message=".*extension is not supported",
                                category=UserWarning)
        return _import(engine, path, source, expected_account_set, now)


def _import(
    engine: Engine, path: Path, source: str, expected_account_set: str | None,
    now: datetime | None,
) -> AnnotationImport:  # fmt: skip
    check_xlsx(path, source=source, unreadable="cannot read the workbook")  # bombs stop here
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"cannot read the workbook ({type(exc).__name__})", source) from None
    try:
        meta = _read_meta(workbook, source)
        if expected_account_set is not None and meta.account_set != expected_account_set:
            raise InputError([RowProblem(
                f"{source} [{META_SHEET}]", None, "account_set",
                f"the workbook belongs to account set {meta.account_set!r}, "
                f"not {expected_account_set!r}")], source)
        problems: list[RowProblem] = []
        rows = _read_items(workbook, source, problems)
        decisions = _read_decisions(workbook, source, problems)
        sign_offs = _read_sign_offs(workbook, source, problems)
    finally:
        workbook.close()
    problems += _formulas_without_values(path, source)

    seen: dict[str, _Row] = {}
    for row in rows:
        for discrepancy_id in row.ids:
            if discrepancy_id in seen:
                first = seen[discrepancy_id]
                problems.append(RowProblem(f"{source} [{row.sheet}]", row.row, "A (Item id)",
                                           f"duplicate id (also on {first.sheet!r} row "
                                           f"{first.row})"))
            else:
                seen[discrepancy_id] = row

    moment = now or datetime.now().astimezone()
    with engine.begin() as connection:
        stored, sighted = _stored(connection, sorted(seen), meta.as_of)
        skipped_ids: set[str] = set()
        for discrepancy_id, row in seen.items():
            if stored.get(discrepancy_id) is None:
                problems.append(RowProblem(f"{source} [{row.sheet}]", row.row, "A (Item id)",
                                           f"{discrepancy_id} is not a discrepancy of the "
                                           f"reconciliation as of {meta.as_of} (edited id?)"))
            elif discrepancy_id not in sighted:
                skipped_ids.add(discrepancy_id)  # resolved since the workbook was made
        current_runs = set(sighted.values())
        if not problems and current_runs <= {meta.run_id} and not skipped_ids and (
                discrepancy_id_checksum(seen) != meta.checksum):
            problems.append(RowProblem(f"{source} [{META_SHEET}]", None, "discrepancy_id_sha256",
                                       "the item ids differ from the report's (rows were "
                                       "removed or ids edited)"))
        links_of = _suggested_links(connection, meta.as_of, [d.match_id for d in decisions])
        skipped_decisions = [d for d in decisions if d.match_id not in links_of]
        if problems:
            raise InputError(problems, source)

        updates: list[dict[str, str | None]] = []
        statuses: Counter[str] = Counter()
        for discrepancy_id, row in seen.items():
            if discrepancy_id in skipped_ids:
                continue
            record = stored[discrepancy_id]
            status = record.status if row.status is None else row.status
            if record.status == RESOLVED and status == "open":
                status = RESOLVED  # the item has cleared since; a stale "open" must not reopen it
            if (status, row.owner, row.notes) != (record.status, record.owner, record.notes):
                updates.append({"b_id": discrepancy_id, "v_status": status,
                                "v_owner": row.owner, "v_notes": row.notes})
                if status != record.status:
                    statuses[status] += 1
        if updates:
            connection.execute(
                update(discrepancies)
                .where(discrepancies.c.discrepancy_id == bindparam("b_id"))
                .values(status=bindparam("v_status"), owner=bindparam("v_owner"),
                        notes=bindparam("v_notes")),
                updates,
            )
        recorded = [d for d in decisions if d.match_id in links_of]
        record_link_decisions(connection, [
            LinkDecision(d.match_id, bank_id, ledger_id, d.decision, d.reviewer, moment,
                         meta.run_id, meta.as_of)
            for d in recorded for bank_id, ledger_id in links_of[d.match_id]
        ])  # fmt: skip
        store_sign_offs(connection, meta.as_of, sign_offs, now=moment)
    return AnnotationImport(
        source=source,
        run_id=meta.run_id,
        as_of=meta.as_of,
        account_set=meta.account_set,
        rows_read=len(rows) + len(decisions),
        updated=tuple(sorted(u["b_id"] or "" for u in updates)),
        statuses=dict(statuses),
        accepted=sum(1 for d in recorded if d.decision == ACCEPTED),
        rejected=sum(1 for d in recorded if d.decision == REJECTED),
        sign_offs=len(sign_offs),
        skipped=len({seen[i].row for i in skipped_ids}) + len(skipped_decisions),
    )


def _stored(
    connection: Connection, ids: Sequence[str], as_of: date
) -> tuple[dict[str, Any], dict[str, str]]:
    """Stored discrepancies by id, and the run that last sighted each at ``as_of``."""
    stored: dict[str, Any] = {}
    sighted: dict[str, str] = {}
    for chunk in _chunks(ids):
        stored.update((r.discrepancy_id, r) for r in connection.execute(
            select(discrepancies.c.discrepancy_id, discrepancies.c.status,
                   discrepancies.c.owner, discrepancies.c.notes)
            .where(discrepancies.c.discrepancy_id.in_(chunk))))
        sighted.update((r.discrepancy_id, r.run_id) for r in connection.execute(
            select(discrepancy_sightings.c.discrepancy_id, discrepancy_sightings.c.run_id)
            .where(discrepancy_sightings.c.as_of == as_of,
                   discrepancy_sightings.c.discrepancy_id.in_(chunk))))
    return stored, sighted


def _suggested_links(
    connection: Connection, as_of: date, match_ids: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """match_id -> its (bank, ledger) links, for groups still suggested at ``as_of``."""
    links: dict[str, list[tuple[str, str]]] = {}
    for chunk in _chunks(sorted(set(match_ids))):
        for r in connection.execute(
            select(matches.c.match_id, matches.c.bank_transaction_id,
                   matches.c.ledger_entry_id)
            .where(matches.c.as_of == as_of, matches.c.status == "suggested",
                   matches.c.match_id.in_(chunk))
        ):
            links.setdefault(r.match_id, []).append((r.bank_transaction_id, r.ledger_entry_id))
    return links
