"""Running the engine on the configured executor (``execution:`` in config.yaml).

``local`` calls the engine once on all rows, in this process (the default, and the demo).
``processes`` and ``dask`` cut the rows into (account, currency) partitions
(:mod:`recon.partitions`), reconcile each in a worker (a local process pool, or a
``dask.distributed`` cluster: the scheduler's address from the environment or config, else a
``LocalCluster`` started here) and merge the results into what ``local`` gives, frame for frame.

With a state store, each worker commits its partition's result in one transaction
(:mod:`recon.store.partitions`) and partitions an earlier attempt committed are not reconciled
again. A partition whose worker died is tried again (``execution.retries``); one that still
fails fails the run.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

import pandas as pd

from recon.config import ExecutionConfig, MatchingConfig
from recon.engine.payees import PayeeMemory
from recon.errors import ReconError
from recon.faults import fault_point
from recon.frames import MatchResult
from recon.partitions import (
    BankSource,
    PartitionResult,
    PartitionTask,
    merge,
    reconcile_task,
    split,
)

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("recon.execution")

OnPartition = Callable[[PartitionTask], None]


class PartitionError(ReconError):
    """A partition could not be reconciled: its worker kept dying, or the cluster is gone."""


@dataclass(frozen=True)
class WorkerReport:
    """What a worker reports besides the result: for logs, metrics and the benchmark."""

    partition: str
    rows: int
    seconds: float
    peak_rss_kb: int  # the worker process's peak so far
    worker: str = ""  # host:pid of the worker process
    reused: bool = False


@dataclass
class PartitionedRun:
    """The merged result and how the partitions went."""

    result: MatchResult
    reports: list[WorkerReport]
    seconds: dict[str, float] = field(default_factory=dict)  # split, workers, merge

    @property
    def reused(self) -> int:
        return sum(r.reused for r in self.reports)


def reconcile_with(
    execution: ExecutionConfig,
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
    matching: MatchingConfig,
    *,
    as_of: date,
    store_url: str | None = None,
    on_partition: OnPartition | None = None,
    payees: PayeeMemory | None = None,
    bank_source: BankSource | None = None,
) -> PartitionedRun:
    """Reconcile on ``execution.executor``; ``store_url`` keeps each partition's result in the
    state store as it is done (processes and dask). ``bank_source`` (with ``store_url``: the
    store ``bank`` was loaded from) has each worker read its partition's bank rows there."""
    if execution.executor == "local":
        from recon.engine import reconcile

        started = time.perf_counter()
        whole = reconcile(bank, ledger, matching, as_of=as_of, payees=payees)
        report = WorkerReport("*/*", len(bank) + len(ledger), time.perf_counter() - started,
                              _peak_rss_kb(), _worker_name())
        return PartitionedRun(whole, [report])
    started = time.perf_counter()
    tasks = split(bank, ledger, matching, as_of=as_of, payees=payees,
                  bank_source=bank_source if store_url is not None else None)
    seconds = {"split": time.perf_counter() - started}
    done: dict[str, tuple[PartitionResult, WorkerReport]] = {}
    if store_url is not None:
        from recon.store.db import create_store_engine
        from recon.store.partitions import committed

        engine = create_store_engine(store_url)
        try:
            found = committed(engine, [t.digest for t in tasks])
        finally:
            engine.dispose()
        for task in tasks:
            if task.digest in found:
                done[task.digest] = (replace(found[task.digest], key=task.key),
                                     WorkerReport(task.name, task.rows, 0.0, 0, "", reused=True))
                if on_partition is not None:
                    on_partition(task)
    todo = sorted((t for t in tasks if t.digest not in done), key=lambda t: (-t.rows, t.key))
    log.info("partitions", extra={"partitions": len(tasks), "committed_before": len(done),
                                  "executor": execution.executor})
    run = _run_processes if execution.executor == "processes" else _run_dask
    started = time.perf_counter()
    for task, result, report in run(execution, todo, store_url):
        done[task.digest] = (result, report)
        log.info("partition done", extra={"partition": task.name, "rows": task.rows,
                                          "seconds": round(report.seconds, 3),
                                          "peak_rss_mb": report.peak_rss_kb // 1024})
        if on_partition is not None:
            on_partition(task)
    seconds["workers"] = time.perf_counter() - started
    started = time.perf_counter()
    results = [done[t.digest] for t in tasks]
    merged = merge([r for r, _ in results])
    seconds["merge"] = time.perf_counter() - started
    log.info("partitions merged", extra={"seconds": {k: round(v, 3) for k, v in seconds.items()}})
    return PartitionedRun(merged, [report for _, report in results], seconds)


def _peak_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # Linux: KiB


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def work(task: PartitionTask, store_url: str | None) -> tuple[PartitionResult, WorkerReport]:
    """One partition in a worker: read its bank rows from the store (where the task says so),
    reconcile it, commit it (one transaction), report."""
    started = time.perf_counter()
    if store_url is None:
        fault_point("partition.reconciling")
        result = reconcile_task(task)
    else:
        from recon.store.db import create_store_engine
        from recon.store.partitions import commit_partition, read_bank_rows

        engine = create_store_engine(store_url)
        try:
            task = read_bank_rows(engine, task)
            fault_point("partition.reconciling")
            result = reconcile_task(task)
            commit_partition(engine, task, result, now=datetime.now(UTC))
        finally:
            engine.dispose()
    fault_point("partition.committed")
    return result, WorkerReport(task.name, task.rows, time.perf_counter() - started,
                                _peak_rss_kb(), _worker_name())


Done = Iterator[tuple[PartitionTask, PartitionResult, WorkerReport]]


def _run_processes(execution: ExecutionConfig, tasks: Sequence[PartitionTask],
                   store_url: str | None) -> Done:
    """A local process pool. A worker that dies breaks the whole pool (every task still running
    fails with it): a new pool then takes the partitions not done yet. An error in a task fails
    the run as it is, once the tasks already running have finished (and committed)."""
    pending = {t.digest: t for t in tasks}
    for attempt in range(execution.retries + 1):
        if not pending:
            return
        if attempt:
            log.warning("a partition worker died; trying the partitions left again",
                        extra={"partitions": len(pending), "attempt": attempt + 1})
        with ProcessPoolExecutor(max_workers=min(execution.workers, len(pending)),
                                 mp_context=get_context("spawn")) as pool:
            futures: dict[Future[tuple[PartitionResult, WorkerReport]], PartitionTask] = {
                pool.submit(work, task, store_url): task for task in pending.values()
            }
            for future in as_completed(futures):
                task = futures[future]
                try:
                    result, report = future.result()
                except BrokenProcessPool:
                    continue
                del pending[task.digest]
                yield task, result, report
    if pending:
        names = ", ".join(sorted(t.name for t in pending.values()))
        raise PartitionError(
            f"partition(s) {names}: the worker died {execution.retries + 1} times"
        )


@contextmanager
def dask_client(execution: ExecutionConfig) -> Iterator[Client]:
    """A client of the configured scheduler, or of a LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    address = execution.scheduler_address()
    if address is not None:
        try:
            client = Client(address, timeout="30s")
        except OSError as exc:
            raise PartitionError(
                f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}"
            ) from None
        with client:
            yield client
        return
    # The status server (dashboard, /health) takes a free port: two runs never fight over 8787.
    with LocalCluster(n_workers=execution.workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client


def _run_dask(execution: ExecutionConfig, tasks: Sequence[PartitionTask],
              store_url: str | None) -> Done:
    """Each partition a Dask task; the scheduler moves a dead worker's task to another worker
    (up to its ``allowed-failures``), ``retries`` more tries follow an error in the task. An
    error that stays (the store unreachable, a bug) fails the run as it is."""
    from distributed import KilledWorker
    from distributed import as_completed as dask_completed

    if not tasks:
        return
    import dask

    with dask_client(execution) as client:
        # The partitions travel in the task graph, not scattered to one worker: the scheduler
        # keeps each until its task is done, so a dead worker's partition can go to another.
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"}):
            futures: dict[Any, PartitionTask] = {
                client.submit(work, task, store_url, pure=False, retries=execution.retries): task
                for task in tasks
            }
        for future in dask_completed(list(futures)):
            task = futures[future]
            try:
                result, report = future.result()
            except KilledWorker:
                raise PartitionError(
                    f"partition {task.name}: its worker died on every try the scheduler allows "
                    "(distributed.scheduler.allowed-failures)"
                ) from None
            yield task, result, report
