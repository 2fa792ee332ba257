"""A partitioned run's partitions in the state store: the bank rows a worker reads, and the
results it commits, one transaction per partition.

A worker of ``recon run`` reads its partition's bank rows from the store itself
(:func:`read_bank_rows`: the night's bank window, the partition's accounts and currency) and
checks that they are the rows the coordinator cut (a hash travels in the task), so the rows
never go through the scheduler.

A worker commits its partition's result frames in one transaction (:func:`commit_partition`),
so a worker killed before the commit leaves nothing of its partition, and one killed after it
left the whole partition. A re-run of the night reads what is there (:func:`committed`) and
reconciles only the rest. The run that saves the night's links and discrepancies removes the
night's rows in its own transaction (:func:`clear_night`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from recon.config import AccountMapping, MatchingConfig
from recon.engine.partitions import cut
from recon.errors import ReconError
from recon.partitions import PartitionResult, PartitionTask, frame_bytes
from recon.store.bank import BankWindow, load_bank_rows
from recon.store.schema import partition_results


class BankRowsChanged(ReconError):
    """The store's bank rows of a partition are not the ones the coordinator cut."""


def read_bank_rows(engine: Engine, task: PartitionTask) -> PartitionTask:
    """``task`` with its bank rows read from the store (as ``task.bank_query`` says), cut as
    the coordinator cut them; they must hash to ``task.bank_sha256``."""
    if not task.bank_query:
        return task
    query = json.loads(task.bank_query)
    accounts = [AccountMapping.model_validate(m) for m in query["accounts"]]
    bank = load_bank_rows(engine, BankWindow.from_json(json.dumps(query["window"])), accounts)
    matching = MatchingConfig.model_validate_json(task.matching_json)
    no_ledger = pd.DataFrame({"account": [], "currency": [], "entry_id": []})
    mine = [p.bank for p in cut(bank, no_ledger, matching) if p.key == task.key]
    data = frame_bytes(mine[0] if mine else bank.iloc[:0])
    if hashlib.sha256(data).hexdigest() != task.bank_sha256:
        raise BankRowsChanged(
            f"partition {task.name}: the bank rows in the state store are not the ones the run "
            "loaded (did something change them during the run?)"
        )
    return replace(task, bank=data, bank_query="")


def committed(engine: Engine, digests: Collection[str]) -> dict[str, PartitionResult]:
    """The committed results among ``digests``, by digest."""
    table = partition_results
    found: dict[str, PartitionResult] = {}
    wanted = sorted(digests)
    with engine.connect() as connection:
        for start in range(0, len(wanted), 500):
            rows = connection.execute(
                select(table.c.digest, table.c.links, table.c.discrepancies,
                       table.c.alternatives).where(table.c.digest.in_(wanted[start:start + 500]))
            )  # fmt: skip
            for row in rows:
                found[row.digest] = PartitionResult(
                    key=("", ""), links=bytes(row.links),
                    discrepancies=bytes(row.discrepancies), alternatives=bytes(row.alternatives),
                )  # fmt: skip
    return found


def commit_partition(
    engine: Engine, task: PartitionTask, result: PartitionResult, *, now: datetime
) -> None:
    """Commit one partition's result in one transaction; a partition already committed (by an
    earlier attempt of a retried task) is left as it is: it holds the same bytes."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(partition_results).values(
                digest=task.digest, as_of=task.as_of, partition=task.name[:300],
                links=result.links, discrepancies=result.discrepancies,
                alternatives=result.alternatives, committed_at=now,
            ))  # fmt: skip
    except IntegrityError:
        if task.digest not in committed(engine, [task.digest]):
            raise


def clear_night(connection: Connection, as_of: date) -> None:
    """Remove the night's partition rows (inside the transaction that saves its results)."""
    connection.execute(delete(partition_results).where(partition_results.c.as_of == as_of))
