"""A run's partitions as tasks for workers, and their results merged.

The engine reconciles each (ledger account, currency) partition on its own
(:mod:`recon.engine.partitions`), so a worker given one partition's rows gives that
partition's part of what ``reconcile`` gives for all rows, and :func:`merge` of every
partition's result equals ``reconcile`` on all rows, frame for frame (ids are content hashes,
so they need no renumbering).

Frames travel between processes and machines as Arrow IPC bytes (:func:`frame_bytes`), never as
pickled objects. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa

from recon.config import AccountMapping, MatchingConfig
from recon.engine.partitions import PartitionKey, cut
from recon.engine.partitions import merge as merge_results
from recon.engine.payees import PayeeMemory
from recon.frames import MatchResult


@dataclass(frozen=True)
class PartitionTask:
    """What a worker needs to reconcile one partition: Arrow IPC bytes and plain values."""

    key: PartitionKey
    bank: bytes  # b"" when the worker reads its bank rows from the store (bank_query)
    ledger: bytes
    matching_json: str
    as_of: date
    payees_json: str  # the learned payees the engine reads (recon.engine.payees), as JSON
    digest: str  # hash of everything above: the partition's identity in the store
    rows: int  # bank + ledger rows, to order the biggest first
    # Where the worker reads the bank rows (recon.store.partitions.read_bank_rows), as JSON:
    # the night's BankWindow and the partition's account mappings; "" when they are in ``bank``.
    bank_query: str = ""
    bank_sha256: str = ""  # of the bank rows' bytes the coordinator cut: the worker checks it

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


@dataclass(frozen=True)
class BankSource:
    """The state store's bank rows that ``bank`` was loaded from (recon.store.bank.BankWindow
    and the account mappings, as JSON): workers read their partition's rows there themselves."""

    window_json: str
    accounts: tuple[AccountMapping, ...]

    def query(self, key: PartitionKey) -> str:
        """The JSON a worker reads partition ``key``'s bank rows by: the window, and the
        mappings of the partition's ledger account (all of them where a rule crosses accounts)."""
        account = key[0]
        mappings = [m.model_dump(mode="json") for m in self.accounts
                    if not account or m.ledger_account == account]  # fmt: skip
        return json.dumps({"window": json.loads(self.window_json), "accounts": mappings})


def split(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, *, as_of: date,
    payees: PayeeMemory | None = None, bank_source: BankSource | None = None,
) -> list[PartitionTask]:  # fmt: skip
    """One task per (account, currency) found on either side, in key order.

    Each partition's rows are in id order (:func:`recon.engine.partitions.cut`), so the same
    rows give the same bytes and digest whatever order they were loaded in. With
    ``bank_source``, a partition's bank rows stay out of its task: the worker reads them from
    the state store and checks they are the rows cut here.
    """
    matching_json = matching.model_dump_json()
    payees_json = (payees or PayeeMemory()).to_json()
    tasks = []
    for partition in cut(bank, ledger, matching):
        bank_data, ledger_data = frame_bytes(partition.bank), frame_bytes(partition.ledger)
        query = "" if bank_source is None or not len(partition.bank) else bank_source.query(
            partition.key)
        digest = hashlib.sha256()
        for part in (
            "\x1f".join(partition.key).encode(), matching_json.encode(),
            as_of.isoformat().encode(), payees_json.encode(), bank_data, ledger_data,
        ):  # fmt: skip
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        tasks.append(PartitionTask(
            key=partition.key, bank=b"" if query else bank_data, ledger=ledger_data,
            matching_json=matching_json, as_of=as_of, payees_json=payees_json,
            digest=digest.hexdigest(), rows=len(partition.bank) + len(partition.ledger),
            bank_query=query, bank_sha256=hashlib.sha256(bank_data).hexdigest() if query else "",
        ))  # fmt: skip
    return tasks


def reconcile_task(task: PartitionTask) -> PartitionResult:
    """Reconcile one partition with the unchanged engine (its bank rows in the task: a worker
    reads them from the store first where ``bank_query`` says so)."""
    if task.bank_query:
        raise ValueError(f"partition {task.name}: its bank rows are still to be read")
    from recon.engine import reconcile

    result = reconcile(
        bytes_frame(task.bank), bytes_frame(task.ledger),
        MatchingConfig.model_validate_json(task.matching_json), as_of=task.as_of,
        payees=PayeeMemory.from_json(task.payees_json),
    )  # fmt: skip
    return PartitionResult.of(task.key, result)


def merge(results: list[PartitionResult]) -> MatchResult:
    """The partitions' results as :func:`recon.engine.reconcile` gives them for all rows."""
    return merge_results([(r.key, r.frames()) for r in results])
