"""``recon export``: one night's links and discrepancies as Parquet and CSV, for a data
warehouse, an auditor or a BI vendor, optionally with personal fields pseudonymized.

Each link and each discrepancy is one row with both sides' details: the bank transaction's
description, counterparty (merchant), payee (``payment_meta.payee``), account owner, Plaid
account id and account mask, and the ledger entry's description and counterparty.

With ``pseudonymize`` the fields named in ``export.pseudonymize`` (payee, counterparty,
account_owner, account_id, mask, description) are replaced by keyed pseudonyms::

    <key id>:<HMAC-SHA256(key, "recon-pseudonym/v1" | len+kind | len+value) as 64 hex digits>

- HMAC with a secret key, never a bare hash: names, account ids and 4-digit masks come from small
  or guessable sets, so ``sha256("ACME CORP")`` is reversed by hashing a dictionary of
  candidates; without the key nobody can compute a candidate's pseudonym.
- Stable: the same value under the same key gives the same pseudonym in every export, so joins
  across nights and tables still work. ``kind`` separates what is being named (a party: payee,
  counterparty or account owner; an account id; a mask; free text), so a party's pseudonym is
  the same on the bank and the ledger side, while a mask never collides with a name. Values are
  length-prefixed, so no two different inputs give the same HMAC input.
- The key comes from the environment (``export.key_env``, or ``<NAME>_FILE``), newest first; the
  first key is used, and its id travels in every value and in the ``pseudonym_key_id`` column
  (and the Parquet metadata). Rotating: put a new key first; new exports carry the new id and no
  longer join with old ones (re-export the history you need under the new key).
- Amounts, dates, statuses, kinds, rules, scores and recon's own ids stay clear. The free texts
  recon writes itself (explanations, nearest candidates) and the analysts' owner and notes
  columns can quote any of the above, so a pseudonymized export leaves them out.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, func, select

from recon.errors import InputError
from recon.money import format_minor, from_minor
from recon.plaid.tokens import read_key_list
from recon.reporting.atomic import atomic_path, atomic_text
from recon.reporting.text import csv_text
from recon.store.schema import (
    accounts,
    bank_transactions,
    discrepancies,
    discrepancy_sightings,
    ledger_entries,
    ledger_snapshots,
    matches,
)

log = logging.getLogger(__name__)

_DOMAIN_PREFIX: Final = b"recon-pseudonym/v1"
# What each pseudonymizable field names: fields of one kind share pseudonyms (they join).
KIND_OF_FIELD: Final = {"payee": "party", "counterparty": "party", "account_owner": "party",
                        "account_id": "account", "mask": "mask", "description": "text"}
_CHUNK: Final = 500
# Amounts: every ISO 4217 exponent (0..4) fits exactly.
_AMOUNT_TYPE: Final = pa.decimal128(38, 4)


class Pseudonymizer:
    """Keyed pseudonyms (HMAC-SHA256) for one key; see the module docstring."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = hashlib.sha256(b"recon/pseudonym-key-id/v1:" + key).hexdigest()[:8]

    def __repr__(self) -> str:  # never the key
        return f"Pseudonymizer(key_id={self.key_id!r})"

    def __call__(self, kind: str, value: str) -> str:
        """The pseudonym of a value; an empty value stays empty (it names nobody)."""
        text = unicodedata.normalize("NFC", value).strip()
        if not text:
            return ""
        message = _DOMAIN_PREFIX + _framed(kind.encode()) + _framed(text.encode("utf-8"))
        return f"{self.key_id}:{hmac.new(self._key, message, hashlib.sha256).hexdigest()}"


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def pseudonymizer_from_env(env_name: str) -> Pseudonymizer:
    """The newest key of ``env_name`` (ConfigError naming the variable when it is missing)."""
    keys, _source = read_key_list(env_name)
    return Pseudonymizer(keys[0])


# --- the rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text | pseudonymizable | amount | int | float | date
    field: str | None = None  # for pseudonymizable columns: payee, counterparty, ...
    free_text: bool = False  # recon's or the analysts' prose: left out when pseudonymizing


def _bank_columns() -> list[Column]:
    return [
        Column("bank_transaction_id", "text"), Column("bank_date", "date"),
        Column("bank_amount", "amount"),
        Column("bank_description", "pseudonymizable", "description"),
        Column("bank_counterparty", "pseudonymizable", "counterparty"),
        Column("bank_payee", "pseudonymizable", "payee"),
        Column("bank_account_owner", "pseudonymizable", "account_owner"),
        Column("bank_account_id", "pseudonymizable", "account_id"),
        Column("bank_account_mask", "pseudonymizable", "mask"),
        Column("bank_reference", "text"),
    ]


def _ledger_columns() -> list[Column]:
    return [
        Column("ledger_entry_id", "text"), Column("ledger_date", "date"),
        Column("ledger_amount", "amount"),
        Column("ledger_description", "pseudonymizable", "description"),
        Column("ledger_counterparty", "pseudonymizable", "counterparty"),
        Column("ledger_reference", "text"),
    ]


LINK_COLUMNS: Final = (
    Column("as_of", "date"), Column("run_id", "text"), Column("match_id", "text"),
    Column("status", "text"), Column("rule", "text"), Column("score", "float"),
    Column("amount_difference", "amount"), Column("date_difference_days", "int"),
    Column("ledger_account", "text"), Column("currency", "text"),
    *_bank_columns(), *_ledger_columns(),
    Column("explanation", "text", free_text=True),
)
DISCREPANCY_COLUMNS: Final = (
    Column("as_of", "date"), Column("run_id", "text"), Column("discrepancy_id", "text"),
    Column("kind", "text"), Column("side", "text"), Column("status", "text"),
    Column("ledger_account", "text"), Column("currency", "text"), Column("date", "date"),
    Column("amount", "amount"), Column("age_days", "int"), Column("first_seen", "date"),
    Column("description", "pseudonymizable", "description"),
    *_bank_columns(), *_ledger_columns(),
    Column("explanation", "text", free_text=True),
    Column("nearest_candidate", "text", free_text=True),
    Column("owner", "text", free_text=True), Column("notes", "text", free_text=True),
)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _bank_details(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    t, a = bank_transactions, accounts
    wanted = sorted({i for i in ids if i})
    details: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(wanted):
        rows = conn.execute(
            select(t.c.transaction_id, t.c.date, t.c.amount_minor, t.c.currency, t.c.name,
                   t.c.merchant_name, t.c.reference, t.c.account_id, t.c.raw_json, a.c.mask)
            .select_from(t.outerjoin(a, a.c.account_id == t.c.account_id))
            .where(t.c.transaction_id.in_(chunk))
        )
        for row in rows:
            raw = json.loads(row.raw_json)
            meta = raw.get("payment_meta") if isinstance(raw, dict) else None
            payee = meta.get("payee") if isinstance(meta, dict) else None
            owner = raw.get("account_owner") if isinstance(raw, dict) else None
            details[row.transaction_id] = {
                "bank_transaction_id": row.transaction_id, "bank_date": row.date,
                "bank_amount": (row.amount_minor, row.currency),
                "bank_description": row.name, "bank_counterparty": row.merchant_name or "",
                "bank_payee": payee if isinstance(payee, str) else "",
                "bank_account_owner": owner if isinstance(owner, str) else "",
                "bank_account_id": row.account_id, "bank_account_mask": row.mask or "",
                "bank_reference": row.reference or "",
            }
    return details


def _ledger_details(conn: Connection, wanted: Mapping[str, Sequence[str]]
                    ) -> dict[tuple[str, str], dict[str, Any]]:
    """(run_id, entry_id) -> the entry as that run's ledger snapshot saw it."""
    e, s = ledger_entries, ledger_snapshots
    details: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id, entry_ids in wanted.items():
        for chunk in _chunks(sorted({i for i in entry_ids if i})):
            rows = conn.execute(
                select(e.c.entry_id, e.c.date, e.c.amount_minor, e.c.currency, e.c.description,
                       e.c.counterparty, e.c.reference)
                .select_from(e.join(s, s.c.snapshot_id == e.c.snapshot_id))
                .where(s.c.run_id == run_id, e.c.entry_id.in_(chunk))
            )
            for row in rows:
                details[(run_id, row.entry_id)] = {
                    "ledger_entry_id": row.entry_id, "ledger_date": row.date,
                    "ledger_amount": (row.amount_minor, row.currency),
                    "ledger_description": row.description,
                    "ledger_counterparty": row.counterparty,
                    "ledger_reference": row.reference,
                }
    return details


def link_rows(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    m = matches
    found = conn.execute(select(m).where(m.c.as_of == as_of)
                         .order_by(m.c.match_id, m.c.bank_transaction_id, m.c.ledger_entry_id)
                         ).all()
    bank = _bank_details(conn, (row.bank_transaction_id for row in found))
    by_run: dict[str, list[str]] = {}
    for row in found:
        by_run.setdefault(row.run_id, []).append(row.ledger_entry_id)
    ledger = _ledger_details(conn, by_run)
    rows = []
    for row in found:
        rows.append({
            "as_of": row.as_of, "run_id": row.run_id, "match_id": row.match_id,
            "status": row.status, "rule": row.rule, "score": row.score,
            "amount_difference": (row.amount_difference_minor, row.currency),
            "date_difference_days": row.date_difference_days, "ledger_account": row.account,
            "currency": row.currency, "explanation": row.explanation,
            **(bank.get(row.bank_transaction_id)
               or {"bank_transaction_id": row.bank_transaction_id}),
            **(ledger.get((row.run_id, row.ledger_entry_id))
               or {"ledger_entry_id": row.ledger_entry_id}),
        })
    return rows


def discrepancy_rows(conn: Connection, as_of: date) -> list[dict[str, Any]]:
    d, seen = discrepancies, discrepancy_sightings
    found = conn.execute(
        select(d, seen.c.run_id.label("sighting_run_id"))
        .select_from(d.join(seen, seen.c.discrepancy_id == d.c.discrepancy_id))
        .where(seen.c.as_of == as_of)
        .order_by(d.c.discrepancy_id)
    ).all()
    bank = _bank_details(conn, (row.bank_transaction_id for row in found))
    by_run: dict[str, list[str]] = {}
    for row in found:
        by_run.setdefault(row.sighting_run_id, []).append(row.ledger_entry_id)
    ledger = _ledger_details(conn, by_run)
    rows = []
    for row in found:
        rows.append({
            "as_of": as_of, "run_id": row.sighting_run_id, "discrepancy_id": row.discrepancy_id,
            "kind": row.kind, "side": row.side, "status": row.status,
            "ledger_account": row.account, "currency": row.currency, "date": row.date,
            "amount": (row.amount_minor, row.currency),
            "age_days": (as_of - row.date).days if row.date else None,
            "first_seen": row.first_seen, "description": row.description,
            "explanation": row.explanation, "nearest_candidate": row.nearest_candidate,
            "owner": row.owner or "", "notes": row.notes or "",
            **(bank.get(row.bank_transaction_id)
               or {"bank_transaction_id": row.bank_transaction_id}),
            **(ledger.get((row.sighting_run_id, row.ledger_entry_id))
               or {"ledger_entry_id": row.ledger_entry_id}),
        })
    return rows


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    paths: tuple[Path, ...]
    links: int
    discrepancies: int
    key_id: str | None
    pseudonymized_columns: tuple[str, ...]


def _cell(column: Column, value: Any, pseudonymize: Callable[[str, str], str] | None,
          fields: Sequence[str]) -> Any:
    if column.kind == "pseudonymizable":
        text = "" if value is None else str(value)
        if pseudonymize is not None and column.field in fields:
            assert column.field is not None
            return pseudonymize(KIND_OF_FIELD[column.field], text)
        return text
    return value


def _arrow_type(column: Column) -> pa.DataType:
    return {"amount": _AMOUNT_TYPE, "int": pa.int64(), "float": pa.float64(),
            "date": pa.date32()}.get(column.kind, pa.string())


def _arrow_value(column: Column, value: Any) -> Any:
    if column.kind == "amount":
        return None if value is None else from_minor(int(value[0]), value[1])
    if column.kind in ("text", "pseudonymizable"):
        return "" if value is None else str(value)
    return value


def _csv_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "amount":
        return format_minor(int(value[0]), value[1])
    if column.kind == "date":
        return str(value.isoformat())
    if column.kind == "float":
        return f"{float(value):.4f}"
    if column.kind == "int":
        return str(int(value))
    return csv_text(value)


def _write_table(out_dir: Path, name: str, rows: Sequence[Mapping[str, Any]],
                 columns: Sequence[Column], pseudonymize: Pseudonymizer | None,
                 fields: Sequence[str], formats: Sequence[str], as_of: date) -> list[Path]:
    # Prose can quote any pseudonymized value: a pseudonymized export leaves it out.
    planned = [c for c in columns if not (pseudonymize is not None and c.free_text)]
    values = [[_cell(c, row.get(c.name), pseudonymize, fields) for c in planned] for row in rows]
    key_id = pseudonymize.key_id if pseudonymize is not None else ""
    pseudonymized = [c.name for c in planned
                     if c.kind == "pseudonymizable" and pseudonymize is not None
                     and c.field in fields]
    paths: list[Path] = []
    if "parquet" in formats:
        arrays = [pa.array([_arrow_value(c, v[i]) for v in values], type=_arrow_type(c))
                  for i, c in enumerate(planned)]
        arrays.append(pa.array([key_id] * len(values), type=pa.string()))
        names = [c.name for c in planned] + ["pseudonym_key_id"]
        table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata({
            "recon.as_of": as_of.isoformat(), "recon.pseudonym_key_id": key_id,
            "recon.pseudonymized_columns": json.dumps(pseudonymized)})
        target = out_dir / f"{name}.parquet"
        with atomic_path(target) as temp:
            pq.write_table(table, temp)
        paths.append(target)
    if "csv" in formats:
        target = out_dir / f"{name}.csv"
        with atomic_text(target, newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow([c.name for c in planned] + ["pseudonym_key_id"])
            for row_values in values:
                writer.writerow([_csv_value(c, v) for c, v in zip(planned, row_values,
                                                                   strict=True)] + [key_id])
        paths.append(target)
    return paths


def latest_as_of(engine: Engine) -> date | None:
    """The latest night with a stored reconciliation."""
    with engine.connect() as conn:
        days = [conn.execute(select(func.max(matches.c.as_of))).scalar(),
                conn.execute(select(func.max(discrepancy_sightings.c.as_of))).scalar()]
    known = [day for day in days if day is not None]
    return max(known) if known else None


def export_night(
    engine: Engine, *, as_of: date, out_dir: Path, pseudonymize: Pseudonymizer | None,
    fields: Sequence[str], formats: Sequence[str] = ("parquet", "csv"),
) -> ExportResult:
    """Write ``recon-export-<as_of>-links`` and ``-discrepancies`` in ``formats`` into out_dir.

    InputError when no reconciliation of ``as_of`` is stored.
    """
    with engine.connect() as conn:
        links = link_rows(conn, as_of)
        found = discrepancy_rows(conn, as_of)
    if not links and not found:
        raise InputError(f"no reconciliation of {as_of} is stored (run `recon run --as-of "
                         f"{as_of}` first)", source="recon export")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"recon-export-{as_of.isoformat()}"
    paths = _write_table(out_dir, f"{stem}-links", links, LINK_COLUMNS, pseudonymize, fields,
                         formats, as_of)
    paths += _write_table(out_dir, f"{stem}-discrepancies", found, DISCREPANCY_COLUMNS,
                          pseudonymize, fields, formats, as_of)
    columns = sorted({c.name for c in (*LINK_COLUMNS, *DISCREPANCY_COLUMNS)
                      if pseudonymize is not None and c.kind == "pseudonymizable"
                      and c.field in fields})
    log.info("export written", extra={
        "as_of": as_of.isoformat(), "links": len(links), "discrepancies": len(found),
        "pseudonym_key_id": pseudonymize.key_id if pseudonymize else None,
        "files": len(paths)})
    return ExportResult(tuple(paths), len(links), len(found),
                        pseudonymize.key_id if pseudonymize else None, tuple(columns))

