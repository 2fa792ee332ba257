"""A run's rows cut into partitions the engine reconciles one by one, and the results merged.

Matching never crosses a ledger account or a currency (every pass blocks on both unless a rule
says ``same_account: false`` / ``same_currency: false``), so the rows of one (account, currency)
are a reconciliation of their own. A partition is never cut by date: a pass window could cross
the cut. :func:`merge` puts the partitions' results together in the order the single run gives,
so the merged :class:`recon.frames.MatchResult` equals ``reconcile`` on all rows, frame for
frame (ids are content hashes, so they need no renumbering).

Frames travel between processes and machines as Arrow IPC bytes (:func:`frame_bytes`), never as
pickled objects. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recon.config import MatchingConfig
from recon.engine.payees import PayeeMemory
from recon.frames import MatchResult

# A partition's key: (ledger account, currency); "" where a rule crosses it (one partition).
PartitionKey = tuple[str, str]


@dataclass(frozen=True)
class PartitionTask:
    """What a worker needs to reconcile one partition: Arrow IPC bytes and plain values."""

    key: PartitionKey
    bank: bytes
    ledger: bytes
    matching_json: str
    as_of: date
    payees_json: str  # the learned payees the engine reads (recon.engine.payees), as JSON
    digest: str  # hash of everything above: the partition's identity in the store
    rows: int  # bank + ledger rows, to order the biggest first

    @property
    def name(self) -> str:
        account, currency = self.key
        return f"{account or '*'}/{currency or '*'}"


@dataclass(frozen=True)
class PartitionResult:
    """One partition's result frames as Arrow IPC bytes."""

    key: PartitionKey
    links: bytes
    discrepancies: bytes
    alternatives: bytes

    @classmethod
    def of(cls, key: PartitionKey, result: MatchResult) -> PartitionResult:
        return cls(key, frame_bytes(result.links), frame_bytes(result.discrepancies),
                   frame_bytes(result.alternatives))

    def frames(self) -> MatchResult:
        return MatchResult(links=bytes_frame(self.links),
                           discrepancies=bytes_frame(self.discrepancies),
                           alternatives=bytes_frame(self.alternatives))


def frame_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as one Arrow IPC stream (its pandas dtypes travel in the schema metadata).

    One record batch, whatever chunks the frame's columns were in: the same rows give the same
    bytes (a partition's digest depends on its content only)."""
    table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def bytes_frame(data: bytes) -> pd.DataFrame:
    frame: pd.DataFrame = pa.ipc.open_stream(data).read_all().to_pandas()
    return frame


def rules_cross(matching: MatchingConfig) -> tuple[bool, bool]:
    """(a rule links across accounts, a rule links across currencies)."""
    accounts = any(getattr(p, "same_account", True) is False for p in matching.passes)
    currencies = any(getattr(p, "same_currency", True) is False for p in matching.passes)
    return accounts, currencies


def _keys(frame: pd.DataFrame, matching: MatchingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each row's partition key, spelled as the engine spells its blocks (the account as text,
    the currency stripped and in upper case): (accounts, currencies)."""
    cross_accounts, cross_currencies = rules_cross(matching)
    nothing = np.full(len(frame), "", dtype=object)
    account = frame["account"].fillna("").astype(str).to_numpy(dtype=object)
    currency = frame["currency"].fillna("").astype(str).str.strip().str.upper()
    return (nothing if cross_accounts else account,
            nothing if cross_currencies else currency.to_numpy(dtype=object))


def split(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, *, as_of: date,
    payees: PayeeMemory | None = None,
) -> list[PartitionTask]:  # fmt: skip
    """One task per (account, currency) found on either side, in key order.

    Each partition's rows are put in id order before they are written, so the same rows give
    the same bytes and digest whatever order they were loaded in (the engine does not depend on
    row order).
    """
    bank_groups = _groups(bank, _keys(bank, matching), "transaction_id")
    ledger_groups = _groups(ledger, _keys(ledger, matching), "entry_id")
    matching_json = matching.model_dump_json()
    payees_json = (payees or PayeeMemory()).to_json()
    tasks = []
    for key in sorted(set(bank_groups) | set(ledger_groups)):
        bank_part = bank_groups.get(key, bank.iloc[:0])
        ledger_part = ledger_groups.get(key, ledger.iloc[:0])
        bank_data, ledger_data = frame_bytes(bank_part), frame_bytes(ledger_part)
        digest = hashlib.sha256()
        for part in (
            "\x1f".join(key).encode(), matching_json.encode(), as_of.isoformat().encode(),
            payees_json.encode(), bank_data, ledger_data,
        ):  # fmt: skip
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        tasks.append(PartitionTask(
            key=key, bank=bank_data, ledger=ledger_data, matching_json=matching_json,
            as_of=as_of, payees_json=payees_json, digest=digest.hexdigest(),
            rows=len(bank_part) + len(ledger_part),
        ))  # fmt: skip
    return tasks


def _groups(
    frame: pd.DataFrame, keys: tuple[np.ndarray, np.ndarray], id_column: str
) -> dict[PartitionKey, pd.DataFrame]:
    """The rows of each key, in id order (codes, not Python loops over a million rows)."""
    if frame.empty:
        return {}
    account_code, accounts = pd.factorize(keys[0], sort=True)
    currency_code, currencies = pd.factorize(keys[1], sort=True)
    group = account_code.astype(np.int64) * len(currencies) + currency_code
    ids = pa.array(frame[id_column].astype(str).to_numpy(dtype=object), type=pa.string())
    order = pc.sort_indices(
        pa.table({"group": group, "id": ids}),
        sort_keys=[("group", "ascending"), ("id", "ascending")],
    ).to_numpy()
    ordered, grouped = frame.iloc[order].reset_index(drop=True), group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[starts[1:], len(grouped)]
    width = len(currencies)
    return {
        (str(accounts[grouped[a] // width]), str(currencies[grouped[a] % width])):
            ordered.iloc[a:b].reset_index(drop=True)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    }  # fmt: skip


def reconcile_task(task: PartitionTask) -> PartitionResult:
    """Reconcile one partition with the unchanged engine."""
    from recon.engine import reconcile

    result = reconcile(
        bytes_frame(task.bank), bytes_frame(task.ledger),
        MatchingConfig.model_validate_json(task.matching_json), as_of=task.as_of,
        payees=PayeeMemory.from_json(task.payees_json),
    )  # fmt: skip
    return PartitionResult.of(task.key, result)


def merge(
    results: list[PartitionResult], bank: pd.DataFrame, ledger: pd.DataFrame
) -> MatchResult:
    """The partitions' results as the single run gives them.

    Links and open items are ordered by account and currency first, so the partitions' frames
    in key order follow each other. Alternatives are ordered by their winning link's rows and
    then their own, in the engine's (date, id) order over all rows: that order is rebuilt from
    ``bank`` and ``ledger`` (the rows the partitions were cut from).
    """
    ordered = sorted(results, key=lambda r: r.key)
    frames = [r.frames() for r in ordered]
    links = _concat([f.links for f in frames])
    discrepancies = _concat([f.discrepancies for f in frames])
    alternatives = _concat([f.alternatives for f in frames])
    if any("" in r.key for r in ordered) and len(ordered) > 1:
        # A partition holds several accounts (or currencies): the partitions interleave.
        links = _links_in_order(links, bank, ledger)
        discrepancies = _sorted(discrepancies, ["account", "currency", "kind", "date",
                                                "discrepancy_id"])
    if len(alternatives):
        alternatives = _alternatives_in_order(alternatives, links, bank, ledger)
    return MatchResult(links=links, discrepancies=discrepancies, alternatives=alternatives)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after the other; empty ones left out (their columns may have another
    dtype than filled ones: the single run's frame has the filled one's)."""
    filled = [f for f in frames if len(f)]
    if not filled:
        return frames[0]
    if len(filled) == 1:
        return filled[0]
    return pd.concat(filled, ignore_index=True)


def _positions(frame: pd.DataFrame, id_column: str, wanted: pd.Series | None = None) -> pd.Series:
    """Each id's rank in the engine's (date, id) order, for the ids in ``wanted`` (all when
    None): the ranks of a subset keep the order of the whole."""
    if wanted is not None:
        frame = frame[frame[id_column].astype(str).isin(set(wanted.astype(str)))]
    days = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    ids = pa.array(frame[id_column].astype(str).to_numpy(dtype=object), type=pa.string())
    order = pc.sort_indices(
        pa.table({"day": days, "id": ids}), sort_keys=[("day", "ascending"), ("id", "ascending")]
    ).to_numpy()
    ranked = ids.take(pa.array(order)).to_numpy(zero_copy_only=False)
    return pd.Series(np.arange(len(order), dtype=np.int64), index=ranked)


def _alternatives_in_order(
    alternatives: pd.DataFrame, links: pd.DataFrame, bank: pd.DataFrame, ledger: pd.DataFrame
) -> pd.DataFrame:
    links = links[links["match_id"].astype(str).isin(set(alternatives["match_id"].astype(str)))]
    bank_at = _positions(bank, "transaction_id", pd.concat(
        [links["bank_transaction_id"], alternatives["bank_transaction_id"]]))
    ledger_at = _positions(ledger, "entry_id", pd.concat(
        [links["ledger_entry_id"], alternatives["ledger_entry_id"]]))
    # A link's winning pair: its first bank row and first ledger row (a group's lowest).
    winners = pd.DataFrame({
        "match_id": links["match_id"].to_numpy(dtype=object),
        "bank": bank_at.reindex(links["bank_transaction_id"].astype(str)).to_numpy(),
        "ledger": ledger_at.reindex(links["ledger_entry_id"].astype(str)).to_numpy(),
    }).groupby("match_id").min()  # fmt: skip
    match_ids = alternatives["match_id"].astype(str)
    keys = [
        winners["bank"].reindex(match_ids).to_numpy(dtype=np.int64),
        winners["ledger"].reindex(match_ids).to_numpy(dtype=np.int64),
        bank_at.reindex(alternatives["bank_transaction_id"].astype(str)).to_numpy(dtype=np.int64),
        ledger_at.reindex(alternatives["ledger_entry_id"].astype(str)).to_numpy(dtype=np.int64),
    ]
    order = np.lexsort(keys[::-1])
    return alternatives.iloc[order].reset_index(drop=True)


def _links_in_order(links: pd.DataFrame, bank: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Links by account, currency, then bank and ledger row in (date, id) order."""
    if not len(links):
        return links
    bank_at, ledger_at = _positions(bank, "transaction_id"), _positions(ledger, "entry_id")
    keys = [
        pd.factorize(links["account"].to_numpy(), sort=True)[0],
        pd.factorize(links["currency"].to_numpy(), sort=True)[0],
        bank_at.reindex(links["bank_transaction_id"].astype(str)).to_numpy(dtype=np.int64),
        ledger_at.reindex(links["ledger_entry_id"].astype(str)).to_numpy(dtype=np.int64),
    ]
    return links.iloc[np.lexsort(keys[::-1])].reset_index(drop=True)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sorted by ``keys`` (first = most significant), as the engine sorts its open items."""
    if not len(frame):
        return frame
    codes = [pd.factorize(frame[key].to_numpy(), sort=True)[0] for key in reversed(keys)]
    return frame.iloc[np.lexsort(codes)].reset_index(drop=True)
