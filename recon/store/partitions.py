"""The results of a partitioned run's partitions, one transaction per partition.

A worker commits its partition's result frames in one transaction (:func:`commit_partition`),
so a worker killed before the commit leaves nothing of its partition, and one killed after it
left the whole partition. A re-run of the night reads what is there (:func:`committed`) and
reconciles only the rest. The run that saves the night's links and discrepancies removes the
night's rows in its own transaction (:func:`clear_night`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from recon.partitions import PartitionResult, PartitionTask
from recon.store.schema import partition_results


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
