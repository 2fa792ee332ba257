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
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa

from recon.config import MatchingConfig
from recon.engine.partitions import PartitionKey, cut
from recon.engine.partitions import merge as merge_results
from recon.engine.payees import PayeeMemory
from recon.frames import MatchResult


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


def split(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, *, as_of: date,
    payees: PayeeMemory | None = None,
) -> list[PartitionTask]:  # fmt: skip
    """One task per (account, currency) found on either side, in key order.

    Each partition's rows are in id order (:func:`recon.engine.partitions.cut`), so the same
    rows give the same bytes and digest whatever order they were loaded in.
    """
    matching_json = matching.model_dump_json()
    payees_json = (payees or PayeeMemory()).to_json()
    tasks = []
    for partition in cut(bank, ledger, matching):
        bank_data, ledger_data = frame_bytes(partition.bank), frame_bytes(partition.ledger)
        digest = hashlib.sha256()
        for part in (
            "\x1f".join(partition.key).encode(), matching_json.encode(),
            as_of.isoformat().encode(), payees_json.encode(), bank_data, ledger_data,
        ):  # fmt: skip
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        tasks.append(PartitionTask(
            key=partition.key, bank=bank_data, ledger=ledger_data, matching_json=matching_json,
            as_of=as_of, payees_json=payees_json, digest=digest.hexdigest(),
            rows=len(partition.bank) + len(partition.ledger),
        ))  # fmt: skip
    return tasks


def reconcile_task(task: PartitionTask) -> PartitionResult:
    """Reconcile one partition with the unchanged engine."""
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
