"""The only place that orders side effects: run(), backfill(), match_files() and friends.

Everything else is either pure (engine, report model) or a single kind of I/O (Plaid, ledger
files, the state store, report files). The CLI, cron, the scheduler and the demo all call these.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from recon.config import Config
from recon.errors import (
    ConfigError,
    DateRangeError,
    ExitCode,
    NothingCheckedError,
    ReportWriteError,
    escape_control,
    exit_code_of,
    store_unavailable_message,
)
from recon.faults import fault_point
from recon.frames import PARTNER_ONLY, MatchResult, keep_recent_or_carried, mark_partners
from recon.logs import Redactor, set_run_id
from recon.progress import ProgressDisplay, Stage, Stages
from recon.store import runs as run_store
from recon.store.db import create_store_engine, ensure_schema, open_store

if TYPE_CHECKING:  # imported where used: most commands need only a few of them
    from recon.carry import CarryForward, SignOff
    from recon.engine.payees import PayeeMemory
    from recon.errors import RowProblem
    from recon.export import ExportResult
    from recon.ledger.load import LedgerLoad
    from recon.lock import Lock
    from recon.plaid.client import PlaidGateway
    from recon.plaid.emulator import Emulator
    from recon.plaid.items import ItemHealth as PlaidItemHealth
    from recon.plaid.sync import SyncOutcome
    from recon.plaid.tokens import TokenVault
    from recon.reporting.model import Balance, Report, ReportInputs
    from recon.store.bank import BankWindow
    from recon.webhooks.worker import JobResult

log = logging.getLogger("recon.pipeline")

# Credentials the bundled emulator accepts when the environment names none: they open nothing
# but the local emulator, so they are not secrets.
EMULATOR_CLIENT_ID = "recon-emulator-client"
EMULATOR_SECRET = "recon-emulator-secret"  # noqa: S105 - a fixed credential for the local fake

Progress = Callable[[int, int, date], None]
# What a run counted: row and link counts, counts per status and kind, the backfill key.
RunCounts = dict[str, int | str | dict[str, int]]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    as_of: date
    exit_code: ExitCode
    report_paths: tuple[Path, ...] = ()
    summary_lines: tuple[str, ...] = ()
    counts: RunCounts = field(default_factory=dict)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_as_of(config: Config, now: datetime) -> date:
    """Yesterday in the schedule's time zone: the last complete bank day when the job runs."""
    return now.astimezone(ZoneInfo(config.schedule.timezone)).date() - timedelta(days=1)


def window_for(config: Config, as_of: date) -> tuple[date, date]:
    return as_of - timedelta(days=config.schedule.window_days - 1), as_of


# --------------------------------------------------------------------------- Plaid connection


@dataclass
class PlaidSession:
    gateway: PlaidGateway
    vault: TokenVault
    emulator: Emulator | None = None


def _credentials(config: Config) -> tuple[str, str]:
    client_id = os.environ.get(config.plaid.client_id_env)
    secret = os.environ.get(config.plaid.secret_env)
    if config.plaid.environment == "emulator":
        return client_id or EMULATOR_CLIENT_ID, secret or EMULATOR_SECRET
    missing = [
        name
        for name, value in (
            (config.plaid.client_id_env, client_id),
            (config.plaid.secret_env, secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            [f"environment variable {name} is not set (Plaid credentials)" for name in missing]
        )
    assert client_id is not None and secret is not None
    return client_id, secret


@contextmanager
def plaid_session(config: Config) -> Iterator[PlaidSession]:
    """A Plaid gateway and the token vault; starts the bundled emulator when configured so."""
    from recon.plaid.client import make_gateway
    from recon.plaid.tokens import TokenVault

    vault = TokenVault.from_env(config.secrets.token_key_env)
    client_id, secret = _credentials(config)
    if config.plaid.host is not None or config.plaid.environment != "emulator":
        host = config.plaid.host or (
            "https://sandbox.plaid.com"
            if config.plaid.environment == "sandbox"
            else "https://production.plaid.com"
        )
        yield PlaidSession(
            make_gateway(config.plaid, host=host, client_id=client_id, secret=secret), vault
        )
        return
    from recon.plaid.emulator import Emulator, EmulatorServer

    fixtures = config.plaid.emulator_fixtures
    if fixtures is None:
        raise ConfigError(
            [
                "plaid.emulator_fixtures: the in-process emulator needs a fixtures "
                "file (run `recon demo` once, or set plaid.host to a running "
                "`recon emulator serve`)"
            ]
        )
    emulator = Emulator.from_file(
        fixtures, client_id=client_id, secret=secret, state_path=fixtures.with_suffix(".state.json")
    )
    with EmulatorServer(emulator) as server:
        yield PlaidSession(
            make_gateway(config.plaid, host=server.url, client_id=client_id, secret=secret),
            vault,
            emulator,
        )


# --------------------------------------------------------------------------- the nightly run


def run(
    config: Config,
    *,
    as_of: date | None = None,
    now: datetime | None = None,
    display: ProgressDisplay | None = None,
) -> RunOutcome:
    """The whole nightly job, under the single-instance lock. Idempotent per as-of date."""
    from recon.lock import single_instance

    now = now or utc_now()
    as_of = as_of or default_as_of(config, now)
    check_business_date(as_of, now=now, what="--as-of")
    with reported_failures(config, as_of=as_of):
        store = create_store_engine(config.state.database_url)
        try:
            # The lock first, then the schema: concurrent first use of a fresh store must wait
            # out at the lock (exit 75), not race through the migration.
            with single_instance(config.state, store) as lock:
                fault_point("pipeline.locked")
                ensure_schema(store)
                run_store.mark_crashed_runs(store, now=now)
                with plaid_session(config) as plaid:
                    return _reconcile(
                        config,
                        store,
                        lock,
                        plaid,
                        as_of=as_of,
                        window=window_for(config, as_of),
                        kind="run",
                        sync_first=True,
                        display=display,
                    )
        finally:
            store.dispose()


# The dates recon reconciles: from the Unix epoch (every window and its context stay inside the
# years an input date may have) up to tomorrow (an as-of date in a zone ahead of UTC).
EARLIEST_BUSINESS_DATE = date(1970, 1, 1)


def check_business_date(day: date, *, now: datetime, what: str) -> None:
    latest = now.date() + timedelta(days=1)
    if not EARLIEST_BUSINESS_DATE <= day <= latest:
        raise DateRangeError(
            f"{what} {day.isoformat()} is not between {EARLIEST_BUSINESS_DATE.isoformat()} and "
            f"{latest.isoformat()} (tomorrow): recon reconciles past bank days"
        )


_REPORTED = "_recon_failure_reported"


@contextmanager
def reported_failures(config: Config, *, as_of: date) -> Iterator[None]:
    """Alert and write metrics for a run that failed before (or around) the run it records:
    the state store unreachable or locked, a bad configuration found late. Needs no store, so
    "the state store is down" reaches the on-call person too. A run that holds the lock reports
    its own failure (and marks the exception); another run holding the lock is no failure."""
    from recon.errors import AlreadyRunningError

    try:
        yield
    except Exception as exc:
        if getattr(exc, _REPORTED, False) or isinstance(exc, AlreadyRunningError):
            raise
        run_id = str(uuid.uuid4())
        set_run_id(run_id)
        exit_code = exit_code_of(exc)
        message = _failure_message(exc)
        log.error("run failed before it started", extra={"exit_code": int(exit_code)})
        _after_run(config, None, run_id=run_id, as_of=as_of, failed_message=message, timings={},
                   counts={}, result=None, report=None, sync_outcomes=[], exit_code=exit_code)
        raise


def _failure_message(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return Redactor.redact(store_unavailable_message(exc))
    return Redactor.redact(escape_control(f"{type(exc).__name__}: {exc}"))[:4000]


def _reconcile(
    config: Config,
    store: Engine,
    lock: Lock,
    plaid: PlaidSession | None,
    *,
    as_of: date,
    window: tuple[date, date],
    kind: str,
    sync_first: bool,
    extra_counts: RunCounts | None = None,
    display: ProgressDisplay | None = None,
) -> RunOutcome:
    from recon.engine import reconcile
    from recon.store.ledger_snapshots import save_snapshot
    from recon.store.payees import learn_payees, load_payee_memory
    from recon.store.results import save_reconciliation

    started = utc_now()
    run_id = run_store.start_run(
        store,
        kind=kind,
        as_of=as_of,
        window_start=window[0],
        window_end=window[1],
        config_hash=config.fingerprint(),
        now=started,
    )
    set_run_id(run_id)
    timer = Stages(display)
    counts: RunCounts = dict(extra_counts or {})
    sync_outcomes: list[SyncOutcome] = []
    failed_message: str | None = None
    result: MatchResult | None = None
    report: Report | None = None
    exit_code = ExitCode.FAILED
    log.info("run started", extra={"as_of": as_of.isoformat(), "kind": kind})
    try:
        if sync_first and plaid is not None:
            run_store.set_state(store, run_id, "syncing", now=utc_now())
            with timer("sync", unit="pages") as stage:
                sync_outcomes = _sync_with(
                    config, store, plaid, on_page=lambda _item, rows: stage.advance(rows=rows)
                )
            counts["transactions_synced"] = sum(
                o.added + o.modified + o.removed for o in sync_outcomes
            )
        run_store.set_state(store, run_id, "loading", now=utc_now())
        with timer("load") as stage:
            ledger, bank, bank_window, books = _load_window(config, store, window)
            with store.connect() as connection:
                payees = load_payee_memory(connection, before=as_of)  # earlier nights' links
            stage.done(rows=ledger.total_rows)
        if all(o.status == "ok" for o in sync_outcomes):
            # A bank whose sync failed already fails the run (exit 69, its alert) and leaves
            # its accounts empty; any other account without bank data is unexplained.
            check_every_account_has_bank_data(config, bank, ledger.frame, since=window[0])
        counts.update(
            bank_rows=len(bank), ledger_rows=len(ledger.frame), ledger_rejected=len(ledger.rejected)
        )
        run_store.set_state(store, run_id, "matching", now=utc_now())
        partitioned = config.execution.executor != "local"
        with timer("match", total=None if partitioned else len(config.matching.passes),
                   unit="partitions" if partitioned else "passes") as stage:
            fault_point("pipeline.matching")
            stage.rows = len(bank) + len(ledger.frame)
            if partitioned:
                result = _reconcile_partitioned(config, bank, ledger.frame, as_of=as_of,
                                                counts=counts, on_partition=stage.advance,
                                                payees=payees, bank_window=bank_window)
            else:
                result = reconcile(
                    bank, ledger.frame, config.matching, as_of=as_of,
                    on_pass=lambda _name, _done, total: stage.advance(total=total),
                    payees=payees,
                )  # fmt: skip
            result = _apply_link_reviews(store, result, bank, ledger.frame, as_of)
            bank, ledger = _rows_reported(result, bank, ledger)
        run_store.set_state(store, run_id, "saving", now=utc_now())
        with timer("save") as stage:
            lock.check()  # never commit results after losing the lock to another run
            with store.begin() as connection:
                save_snapshot(
                    connection,
                    run_id=run_id,
                    load=ledger,
                    window_start=window[0],
                    window_end=window[1],
                    now=utc_now(),
                )
                carry = save_reconciliation(
                    connection,
                    run_id=run_id,
                    as_of=as_of,
                    result=result,
                    accounts=[m.ledger_account for m in config.accounts],
                )
                # In the results' transaction: a run that fails before this commit learns
                # nothing, and one that commits learns exactly what it reported.
                counts["payees_learned"] = learn_payees(
                    connection, run_id=run_id, as_of=as_of, result=result, bank=bank,
                    ledger=ledger.frame,
                )  # fmt: skip
                if partitioned:
                    from recon.store.partitions import clear_night

                    clear_night(connection, as_of)
            stage.done(rows=len(result.links) + len(result.discrepancies))
            # Everything the report needs from the store, read before the reporting step: that
            # step touches nothing but report files.
            stored = _report_context(config, store, as_of)
        run_store.set_state(store, run_id, "reporting", now=utc_now())
        with timer("report", total=len(config.reports.formats), unit="formats") as stage:
            report, paths = _write_run_reports(
                config,
                stored,
                run_id=run_id,
                as_of=as_of,
                window=window,
                bank=bank,
                ledger=ledger,
                result=result,
                carry=carry,
                started=started,
                books=books,
                stage=stage,
            )
        counts.update(_result_counts(result))
        counts["stage_rows"] = dict(timer.rows)
        exit_code = _exit_code_for(report, sync_outcomes)
    except BaseException as exc:
        exit_code = exit_code_of(exc)  # the code the process returns, recorded as such
        failed_message = _failure_message(exc)
        counts["stage_rows"] = dict(timer.rows)  # the stages that ran, for logs and metrics
        _after_run(config, store, run_id=run_id, as_of=as_of, failed_message=failed_message,
                   timings=timer.seconds, counts=counts, result=result, report=report,
                   sync_outcomes=sync_outcomes, exit_code=exit_code)
        with suppress(AttributeError):
            setattr(exc, _REPORTED, True)
        try:
            run_store.finish_run(store, run_id, state="failed", now=utc_now(),
                                 timings=timer.seconds, counts=counts, exit_code=int(exit_code),
                                 error=failed_message)
        except SQLAlchemyError as store_error:  # the store may be what failed
            log.error("could not record the failed run", extra={
                "error": type(store_error).__name__})
        raise
    # Alerts and metrics before the run is marked done: a process killed in between leaves the
    # run unfinished, so the day is reconciled (and alerted) again, never silently skipped.
    _after_run(config, store, run_id=run_id, as_of=as_of, failed_message=None,
               timings=timer.seconds, counts=counts, result=result, report=report,
               sync_outcomes=sync_outcomes, exit_code=exit_code)
    run_store.finish_run(store, run_id, state="succeeded", now=utc_now(), timings=timer.seconds,
                         counts=counts, exit_code=int(exit_code))
    fault_point("pipeline.run_finished")
    return RunOutcome(
        run_id=run_id,
        as_of=as_of,
        exit_code=exit_code,
        report_paths=tuple(paths),
        summary_lines=_summary_lines(report, paths, sync_outcomes),
        counts=counts,
    )


def _reconcile_partitioned(
    config: Config,
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
    *,
    as_of: date,
    counts: RunCounts | None = None,
    on_partition: Callable[[], None] | None = None,
    payees: PayeeMemory | None = None,
    bank_window: BankWindow | None = None,
) -> MatchResult:
    """The engine on config.execution's executor, by (account, currency) partition; each
    partition's result is committed to the state store as its worker finishes it, and a re-run
    takes the partitions an earlier attempt committed. ``bank_window``: ``bank`` is the store's
    rows of that window, and each worker reads its partition's rows there itself."""
    from recon.execution import reconcile_with
    from recon.partitions import BankSource

    source = None if bank_window is None else BankSource(bank_window.to_json(),
                                                         tuple(config.accounts))
    done = reconcile_with(
        config.execution, bank, ledger, config.matching, as_of=as_of,
        store_url=config.state.database_url,
        on_partition=None if on_partition is None else lambda _task: on_partition(),
        payees=payees, bank_source=source,
    )  # fmt: skip
    if counts is not None:
        counts.update(partitions=len(done.reports), partitions_committed_before=done.reused)
    return done.result


def check_every_account_has_bank_data(
    config: Config, bank: pd.DataFrame, ledger: pd.DataFrame, *, since: date | None
) -> None:
    """An account whose ledger has rows but whose bank side is empty was not checked (a wrong
    plaid_account_id, a bank that stopped sending): that run must not look like "all clear"."""
    if since is not None:
        ledger = ledger[ledger["date"] >= pd.Timestamp(since)]
        bank = bank[bank["date"] >= pd.Timestamp(since)]
    booked = set(ledger["account"].astype(str))
    seen = set(bank["account"].astype(str))
    unchecked = sorted(a for a in (m.ledger_account for m in config.accounts)
                       if a in booked and a not in seen)
    if unchecked:
        raise NothingCheckedError(
            f"no bank transactions for account(s) {', '.join(unchecked)} although the ledger "
            "has entries for them" + (f" since {since.isoformat()}" if since else "")
            + ": check accounts[].plaid_account_id and that the bank is still sending data; "
            "nothing was reconciled"
        )


def _load_window(
    config: Config, store: Engine, window: tuple[date, date]
) -> tuple[LedgerLoad, pd.DataFrame, BankWindow, dict[str, Balance]]:
    """The ledger and bank rows of the window, plus the rows of discrepancies still open from
    before it (so an old item stays open, ages, and can still match late data), plus the rows
    of the ``reach_days`` before it, marked PARTNER_ONLY: a bank row on the window's first day
    whose ledger entry was booked the day before stays matched, instead of being matched one
    night and reported unmatched the next. And the balance per books at the window's end: the
    ledger is read from the earliest opening balance for it."""
    from dataclasses import replace

    from recon.balances import books_balances, earliest_opening
    from recon.engine import reach_days
    from recon.ledger import load_ledger
    from recon.store.bank import BankWindow, load_bank_rows
    from recon.store.results import carried_items

    with store.connect() as connection:
        carried = carried_items(
            connection, before=window[0], accounts=[m.ledger_account for m in config.accounts]
        )
    context_start = window[0] - timedelta(days=reach_days(config.matching))
    start = min(context_start, carried.earliest or context_start)
    opening = earliest_opening(config)
    ledger_start = min(start, opening + timedelta(days=1)) if opening else start
    ledger = load_ledger(
        config.ledger, config.accounts, window_start=ledger_start, window_end=window[1]
    )
    books = books_balances(config, ledger.frame, window[1])
    bank_window = BankWindow(start, window[1], context_start, window[0],
                             carried.bank_transaction_ids)  # fmt: skip
    bank = load_bank_rows(store, bank_window, config.accounts)
    if ledger_start < context_start:
        ledger = replace(
            ledger,
            frame=keep_recent_or_carried(
                ledger.frame, "entry_id", carried.ledger_entry_ids, pd.Timestamp(context_start)
            ),
        )
    ledger = replace(
        ledger,
        frame=mark_partners(ledger.frame, "entry_id", carried.ledger_entry_ids, window[0]),
    )
    return ledger, bank, bank_window, books


def _rows_reported(
    result: MatchResult, bank: pd.DataFrame, ledger: LedgerLoad
) -> tuple[pd.DataFrame, LedgerLoad]:
    """The bank frame and ledger load the report and the snapshot cover: the window's rows, and
    a partner-only row only where the result shows it (linked with a window row), so that the
    tie-out still explains every minor unit."""
    from dataclasses import replace

    def reported(frame: pd.DataFrame, id_column: str, used: set[str]) -> pd.DataFrame:
        keep = ~frame[PARTNER_ONLY] | frame[id_column].isin(used)
        return frame[keep].drop(columns=PARTNER_ONLY).reset_index(drop=True)

    found = result.discrepancies
    used_bank = set(result.links["bank_transaction_id"]) | set(found["bank_transaction_id"])
    used_ledger = set(result.links["ledger_entry_id"]) | set(found["ledger_entry_id"])
    return (
        reported(bank, "transaction_id", used_bank),
        replace(ledger, frame=reported(ledger.frame, "entry_id", used_ledger)),
    )


def _apply_link_reviews(
    engine: Engine, result: MatchResult, bank: pd.DataFrame, ledger: pd.DataFrame, as_of: date
) -> MatchResult:
    """The analysts' accept / reject decisions on suggested links (recon.store.reviews)."""
    from recon.reporting.reviews import apply_link_decisions
    from recon.store.reviews import latest_link_decisions

    with engine.connect() as connection:
        decisions = latest_link_decisions(connection)
    return apply_link_decisions(result, decisions, bank, ledger, as_of)


def _sync_with(
    config: Config,
    store: Engine,
    plaid: PlaidSession,
    *,
    on_page: Callable[[str, int], None] | None = None,
) -> list[SyncOutcome]:
    from recon.plaid.sync import sync_all
    from recon.plaid.tokens import rotate_due_tokens

    now = utc_now()
    rotated = rotate_due_tokens(
        store,
        plaid.gateway,
        plaid.vault,
        max_age=timedelta(hours=config.plaid.max_token_age_hours),
        now=now,
    )
    if rotated:
        log.info("rotated access tokens", extra={"items": len(rotated)})
    outcomes = list(sync_all(store, plaid.gateway, plaid.vault, config, now=now, on_page=on_page))
    _settle_sync_queue(store, outcomes, synced_from=now)
    return outcomes


def _settle_sync_queue(
    store: Engine, outcomes: Sequence[SyncOutcome], *, synced_from: datetime
) -> None:
    """Queued webhook syncs of items this full sync brought up to date are done."""
    from recon.webhooks.queue import settle_after_full_sync

    with store.begin() as conn:
        settled = sum(
            settle_after_full_sync(conn, o.item_id, synced_from=synced_from, now=utc_now())
            for o in outcomes if o.status == "ok"
        )
    if settled:
        log.info("queued syncs settled by the full sync", extra={"jobs": settled})


def _exit_code_for(report: Report, sync_outcomes: Sequence[SyncOutcome]) -> ExitCode:
    # A bank that could not be synced (failed, or needs re-linking) leaves the report without
    # its current data: a partial failure the exit code must show, not a success.
    if any(o.status != "ok" for o in sync_outcomes):
        return ExitCode.UNAVAILABLE
    if report.threshold.exceeded:
        return ExitCode.DISCREPANCIES_ABOVE_THRESHOLD
    return ExitCode.OK


def _result_counts(result: MatchResult) -> RunCounts:
    links = result.links
    disc = result.discrepancies
    return {
        "links": len(links),
        "links_by_status": {str(k): int(v) for k, v in links["status"].value_counts().items()},
        "discrepancies_by_kind": {str(k): int(v) for k, v in disc["kind"].value_counts().items()},
    }


@dataclass(frozen=True)
class _StoredContext:
    bank_balance: dict[str, Balance]
    sign_offs: dict[str, SignOff]
    items: list[PlaidItemHealth]
    item_notes: dict[str, list[str]]


def _report_context(config: Config, engine: Engine, as_of: date) -> _StoredContext:
    from recon.balances import plaid_bank_balances
    from recon.store.bank import bank_balances_at
    from recon.store.reviews import sign_offs_for

    with engine.connect() as connection:
        sign_offs = sign_offs_for(connection, as_of, [m.ledger_account for m in config.accounts])
    return _StoredContext(
        bank_balance=plaid_bank_balances(bank_balances_at(engine, config, as_of), as_of),
        sign_offs=dict(sign_offs),
        items=_item_rows(engine),
        item_notes=_item_notes(engine),
    )


def _write_run_reports(
    config: Config,
    stored: _StoredContext,
    *,
    run_id: str,
    as_of: date,
    window: tuple[date, date],
    bank: pd.DataFrame,
    ledger: LedgerLoad,
    result: MatchResult,
    carry: CarryForward,
    started: datetime,
    books: dict[str, Balance],
    stage: Stage,
) -> tuple[Report, list[Path]]:
    from recon.faults import fault_point
    from recon.reporting import build_report, write_reports

    inputs = _report_inputs(
        config,
        run_id=run_id,
        as_of=as_of,
        window=window,
        bank=bank,
        ledger_frame=ledger.frame,
        rejected=ledger.rejected,
        result=result,
        carry=carry,
        generated_at=started,
        bank_balance=stored.bank_balance,
        books_balance=books,
        sign_offs=stored.sign_offs,
        items=stored.items,
        item_notes=stored.item_notes,
    )
    report = build_report(inputs)
    fault_point("pipeline.reporting")
    paths: list[Path] = []
    try:
        for fmt in config.reports.formats:
            written = write_reports(report, config.reports.output_dir, formats=(fmt,))
            paths += written
            stage.advance()
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the reports to {config.reports.output_dir}: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    stage.done(rows=len(report.links) + len(report.items))
    return report, paths


def account_set_name(config: Config) -> str:
    """The accounts a report covers; annotations are only imported into the same set."""
    return ",".join(sorted(m.ledger_account for m in config.accounts)) or "(no accounts)"


def _report_inputs(
    config: Config,
    *,
    run_id: str,
    as_of: date,
    window: tuple[date, date],
    bank: pd.DataFrame,
    ledger_frame: pd.DataFrame,
    rejected: Sequence[RowProblem],
    result: MatchResult,
    carry: CarryForward,
    generated_at: datetime,
    bank_balance: Mapping[str, Balance],
    books_balance: Mapping[str, Balance],
    items: Sequence[PlaidItemHealth],
    sign_offs: Mapping[str, SignOff] | None = None,
    item_notes: Mapping[str, Sequence[str]] | None = None,
) -> ReportInputs:
    from recon.reporting import AccountInfo, ItemHealth, ReportInputs

    def movement(frame: pd.DataFrame) -> dict[str, int]:
        if frame.empty:
            return {}
        sums = frame.groupby("account")["amount_minor"].sum()
        return {str(k): int(v) for k, v in sums.items()}

    return ReportInputs(
        run_id=run_id,
        as_of=as_of,
        window_start=window[0],
        window_end=window[1],
        generated_at=generated_at,
        account_set=account_set_name(config),
        accounts=tuple(
            AccountInfo(
                ledger_account=m.ledger_account,
                name=m.name or m.ledger_account,
                currency=m.currency,
            )
            for m in config.accounts
        ),
        result=result,
        carry_forward=carry,
        bank_movement_minor=movement(bank),
        ledger_movement_minor=movement(ledger_frame),
        bank=bank,
        ledger=ledger_frame,
        bank_balance=bank_balance,
        books_balance=books_balance,
        statement=config.statement,
        sign_offs=sign_offs or {},
        item_health=tuple(
            ItemHealth(
                institution=item.institution,
                item_id=item.item_id,
                last_successful_sync=item.last_sync_at,
                status=item.status,
                notes=tuple((item_notes or {}).get(item.item_id, ())),
            )
            for item in items
        ),
        rejected_rows=tuple(rejected),
        threshold=config.alerts.threshold,
    )


def _item_rows(store: Engine) -> list[PlaidItemHealth]:
    from recon.plaid.items import list_items

    return list(list_items(store, now=utc_now()))


def _item_notes(store: Engine) -> dict[str, list[str]]:
    from recon.webhooks.queue import attention

    with store.connect() as conn:
        return attention(conn, now=utc_now())


def _sync_queue_figures(store: Engine) -> tuple[int, int] | None:
    """(webhook sync jobs waiting, open dead letters), or None when the store cannot say."""
    from sqlalchemy.exc import SQLAlchemyError

    from recon.webhooks.queue import open_dead_letters, queue_depth

    try:
        with store.connect() as conn:
            return queue_depth(conn), len(open_dead_letters(conn))
    except SQLAlchemyError:
        log.warning("could not read the sync queue for the metrics")
        return None


def _after_run(
    config: Config,
    store: Engine | None,
    *,
    run_id: str,
    as_of: date,
    failed_message: str | None,
    timings: dict[str, float],
    counts: RunCounts,
    result: MatchResult | None,
    report: Report | None,
    sync_outcomes: Sequence[SyncOutcome],
    exit_code: ExitCode,
) -> None:
    """Metrics and alerts: best effort, never change the run's outcome."""
    from recon.alerts import alerts_for_run, send_alerts
    from recon.metrics import metrics_for_run, write_metrics

    try:
        if config.state.metrics_file is not None:
            sync_queue = _sync_queue_figures(store) if store is not None else None
            write_metrics(
                config.state.metrics_file,
                metrics_for_run(
                    run_id=run_id,
                    as_of=as_of,
                    timings=timings,
                    counts=counts,
                    result=result,
                    report=report,
                    sync_outcomes=sync_outcomes,
                    exit_code=exit_code,
                    failed=failed_message is not None,
                    now=utc_now(),
                    sync_queue=sync_queue,
                ),
            )
    except Exception:
        log.exception("could not write the metrics file")
    try:
        for message in alerts_for_run(
            run_id=run_id,
            as_of=as_of,
            failed_message=failed_message,
            report=report,
            sync_outcomes=sync_outcomes,
            exit_code=int(exit_code),
        ):
            send_alerts(config.alerts, message)
    except Exception:
        log.exception("could not send alerts")


def _summary_lines(
    report: Report, paths: Sequence[Path], sync_outcomes: Sequence[SyncOutcome]
) -> tuple[str, ...]:
    lines = list(report_summary_lines(report))
    for outcome in sync_outcomes:
        if outcome.status != "ok":
            lines.append(
                f"bank item {outcome.item_id}: {outcome.status}"
                + (f" ({outcome.error_code})" if outcome.error_code else "")
            )
    lines.append("reports:")
    lines.extend(f"  {path}" for path in paths)
    return tuple(lines)


def report_summary_lines(report: Report) -> list[str]:
    """The short summary printed after a run: what finance will see at the top of the report."""
    from recon.money import format_minor
    from recon.reporting.model import TREATMENT_PHRASES

    summary = report.summary
    lines = [
        f"reconciled {summary.window_start} .. {summary.window_end} (as of {summary.as_of}), "
        f"run {summary.run_id}"
    ]
    links = ", ".join(f"{s.links} {s.status}" for s in summary.link_statuses if s.links)
    lines.append(f"links: {links or 'none'}")
    rate = summary.auto_match_rate
    if rate is not None:
        lines.append(f"auto-match rate: {rate:.1%} of {summary.bank_items} bank transactions")
    kinds = ", ".join(
        f"{t.open_count} {TREATMENT_PHRASES[t.treatment]}" for t in summary.treatments
        if t.open_count
    )  # fmt: skip
    lines.append(f"open items: {summary.open_count}" + (f" ({kinds})" if kinds else ""))
    for statement in report.statements:
        difference = statement.difference_minor
        lines.append(
            f"statement {statement.account}: difference "
            + ("not available (a balance is missing)" if difference is None
               else f"{format_minor(difference, statement.currency)} {statement.currency}")
        )
    for item in summary.items_needing_relink:
        lines.append(f"bank needs re-linking: {item.institution} ({item.item_id})")
    if report.threshold.exceeded:
        lines.append("ALERT threshold exceeded: " + "; ".join(report.threshold.reasons))
    return lines


# --------------------------------------------------------------------------- other commands


def sync(config: Config, *, display: ProgressDisplay | None = None) -> list[SyncOutcome]:
    from recon.lock import single_instance

    store = create_store_engine(config.state.database_url)
    try:
        with single_instance(config.state, store):
            ensure_schema(store)
            with plaid_session(config) as plaid, Stages(display)("sync", unit="pages") as stage:
                return _sync_with(
                    config, store, plaid, on_page=lambda _item, rows: stage.advance(rows=rows)
                )
    finally:
        store.dispose()


def sync_queued(config: Config) -> list[JobResult]:
    """`recon sync --queued`: run the due jobs of the webhook sync queue, under the run lock."""
    from recon.lock import single_instance
    from recon.webhooks.worker import drain

    store = create_store_engine(config.state.database_url)
    try:
        with single_instance(config.state, store) as lock:
            ensure_schema(store)
            with plaid_session(config) as plaid:
                return drain(config, store, plaid.gateway, plaid.vault, lock, clock=utc_now)
    finally:
        store.dispose()


def serve_webhooks(config: Config, *, host: str, port: int) -> None:
    """`recon webhooks serve`: the webhook receiver and the queue worker, until interrupted."""
    from recon.webhooks.server import WebhookService, create_app, serve_forever
    from recon.webhooks.verify import WebhookVerifier, plaid_key_fetcher
    from recon.webhooks.worker import QueueWorker, drain_when_due

    store = open_store(config.state.database_url)
    try:
        with plaid_session(config) as plaid:
            worker = QueueWorker(
                lambda: drain_when_due(config, store, plaid.gateway, plaid.vault,
                                       clock=utc_now),
                poll_seconds=config.webhooks.queue.poll_seconds,
            )
            service = WebhookService(WebhookVerifier(plaid_key_fetcher(plaid.gateway)), store,
                                     clock=utc_now, on_queued=worker.wake)
            worker.start()
            try:
                serve_forever(create_app(service, config.webhooks), host, port)
            finally:
                worker.stop()
    finally:
        store.dispose()


def register_webhooks(config: Config) -> list[str]:
    """`recon webhooks register`: point every active item's webhook at webhooks.public_url."""
    from recon.plaid.tokens import load_access_token
    from recon.store.bank import list_item_rows

    url = config.webhooks.public_url
    if url is None:
        raise ConfigError(["webhooks.public_url: set it to the URL Plaid should post to"])
    store = open_store(config.state.database_url)
    try:
        with plaid_session(config) as plaid:
            with store.connect() as conn:
                rows = [r for r in list_item_rows(conn) if r.status == "active"]
            for row in rows:
                with store.connect() as conn:
                    token = load_access_token(conn, plaid.vault, row.item_id)
                plaid.gateway.item_webhook_update(token, url)
                log.info("item webhook set", extra={"item_id": row.item_id})
            return [row.item_id for row in rows]
    finally:
        store.dispose()

def backfill(
    config: Config,
    *,
    start: date,
    end: date,
    item_id: str | None = None,
    mode: str = "daily",
    progress: Progress | None = None,
    display: ProgressDisplay | None = None,
) -> list[RunOutcome]:
    """Pull a range with /transactions/get, then reconcile it day by day or as one period.

    Resumable: days already reconciled by an earlier attempt of the same backfill (same range,
    item, mode and configuration) are skipped, so a restart finishes with the same state as an
    uninterrupted run. ``progress`` is called after each day; ``display`` shows a bar for the
    days and one for each stage of the day being reconciled.
    """
    from recon.lock import single_instance
    from recon.plaid.items import backfill_pull

    key = f"{start}:{end}:{item_id or '*'}:{mode}:{config.fingerprint()}"
    now = utc_now()
    check_business_date(start, now=now, what="--start")
    check_business_date(end, now=now, what="--end")
    outcomes: list[RunOutcome] = []
    with reported_failures(config, as_of=end):
        store = create_store_engine(config.state.database_url)
        try:
            with single_instance(config.state, store) as lock:
                fault_point("pipeline.locked")
                ensure_schema(store)
                run_store.mark_crashed_runs(store, now=utc_now())
                with plaid_session(config) as plaid:
                    margin = timedelta(days=config.schedule.window_days if mode == "daily" else 0)
                    with Stages(display)("pull", unit="pages") as stage:
                        pulled = backfill_pull(
                            store,
                            plaid.gateway,
                            plaid.vault,
                            config,
                            start=start - margin,
                            end=end,
                            item_id=item_id,
                            now=utc_now(),
                            on_page=lambda _item, rows: stage.advance(rows=rows),
                        )
                    log.info("backfill pulled", extra={"pulled": pulled})
                    if mode == "period":
                        days = [end]
                        windows = {end: (start, end)}
                    else:
                        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
                        windows = {day: window_for(config, day) for day in days}
                    done = run_store.backfill_days_done(store, key)
                    if display is not None:
                        display.begin("backfill", "backfill days", len(days))
                    for index, day in enumerate(days, start=1):
                        if day in done:  # an earlier attempt finished it: its outcome counts
                            run_id, code = done[day]
                            outcomes.append(RunOutcome(
                                run_id=run_id, as_of=day, exit_code=ExitCode(code),
                                summary_lines=(f"{day}: reconciled earlier by run {run_id}",)))
                        else:
                            outcomes.append(
                                _reconcile(
                                    config,
                                    store,
                                    lock,
                                    plaid,
                                    as_of=day,
                                    window=windows[day],
                                    kind="backfill",
                                    sync_first=False,
                                    extra_counts={"backfill": key},
                                    display=display,
                                )
                            )
                        log.info("backfill day done", extra={
                            "day": day.isoformat(), "done": index, "total": len(days),
                            "skipped": day in done})
                        if display is not None:
                            display.advance("backfill", 1, f"{index}/{len(days)} days, {day}")
                        if progress is not None:
                            progress(index, len(days), day)
        finally:
            store.dispose()
    return outcomes


def match_files(
    config: Config,
    *,
    bank_path: Path,
    ledger_path: Path,
    out_dir: Path,
    as_of: date | None = None,
    statement_balances: Sequence[str] = (),
) -> RunOutcome:
    """File to file: no Plaid, no state store. Writes matches.csv, discrepancies.csv,
    summary.json, journal-entries.csv and the Excel/HTML reports into out_dir.

    The balance per bank comes from ``statement_balances`` (``ACCOUNT=AMOUNT``) or a bank CSV's
    ``balance`` column; the balance per books from the trial balance or opening balances in
    config. Each step's duration is logged (``match finished``).
    """
    from recon.balances import books_balances, csv_column_balances, parse_statement_balances
    from recon.bankfile import read_bank_file
    from recon.carry import CarryForward
    from recon.engine import reconcile
    from recon.ledger import load_ledger
    from recon.reporting import build_report, write_reports

    if as_of is not None:
        check_business_date(as_of, now=utc_now(), what="--as-of")
    timer = Stages()
    given = parse_statement_balances(statement_balances, config.accounts)
    with timer("read_bank"):
        bank = read_bank_file(bank_path, config)
    as_of = as_of or _latest_date(bank)
    window = (date.min, as_of) if as_of else (date.min, date.max)
    ledger_config = config.ledger.model_copy(update={"path": ledger_path})
    with timer("read_ledger"):
        ledger = load_ledger(
            ledger_config, config.accounts, window_start=window[0], window_end=window[1]
        )
    if as_of is None:
        as_of = _latest_date(ledger.frame) or utc_now().date()
    bank = bank[bank["date"] <= pd.Timestamp(as_of)]
    check_every_account_has_bank_data(config, bank, ledger.frame, since=None)
    with timer("match"):
        if config.execution.executor == "local":
            result = reconcile(bank, ledger.frame, config.matching, as_of=as_of)
        else:  # no state store here: the partitions' results stay in memory
            from recon.execution import reconcile_with

            result = reconcile_with(
                config.execution, bank, ledger.frame, config.matching, as_of=as_of
            ).result
    with timer("balances"):
        bank_balance = csv_column_balances(bank_path, config.accounts, as_of) | given
        books = books_balances(config, ledger.frame, as_of)
    start = min([d for d in (_earliest_date(bank), _earliest_date(ledger.frame)) if d] or [as_of])
    with timer("report_model"):
        inputs = _report_inputs(
            config,
            run_id="file-match",
            as_of=as_of,
            window=(start, as_of),
            bank=bank,
            ledger_frame=ledger.frame,
            rejected=ledger.rejected,
            result=result,
            carry=CarryForward.without_history(as_of, result),
            generated_at=utc_now(),
            bank_balance=bank_balance,
            books_balance=books,
            items=[],
        )
        report = build_report(inputs)
    with timer("report_files"):
        paths = write_reports(report, out_dir, formats=("xlsx", "html", "csv", "json"),
                              dated=False)
    log.info("match finished", extra={"timings": timer.seconds})
    exit_code = ExitCode.DISCREPANCIES_ABOVE_THRESHOLD if report.threshold.exceeded else ExitCode.OK
    return RunOutcome(
        run_id="file-match",
        as_of=as_of,
        exit_code=exit_code,
        report_paths=tuple(paths),
        summary_lines=_summary_lines(report, paths, []),
    )


def _latest_date(frame: pd.DataFrame) -> date | None:
    return None if frame.empty else frame["date"].max().date()


def _earliest_date(frame: pd.DataFrame) -> date | None:
    return None if frame.empty else frame["date"].min().date()


def export(
    config: Config,
    *,
    as_of: date | None,
    out_dir: Path | None,
    pseudonymize: bool,
    formats: Sequence[str],
) -> ExportResult:
    """`recon export`: a night's links and discrepancies as Parquet/CSV (see recon.export)."""
    from recon.errors import InputError
    from recon.export import export_night, latest_as_of, pseudonymizer_from_env

    pseudonyms = pseudonymizer_from_env(config.export.key_env) if pseudonymize else None
    store = open_store(config.state.database_url)
    try:
        as_of = as_of or latest_as_of(store)
        if as_of is None:
            raise InputError("nothing reconciled yet: run `recon run` first",
                             source="recon export")
        return export_night(
            store, as_of=as_of, out_dir=out_dir or config.export.output_dir,
            pseudonymize=pseudonyms, fields=config.export.pseudonymize, formats=formats,
        )
    finally:
        store.dispose()


def add_item(
    config: Config,
    *,
    public_token: str | None,
    institution_id: str | None,
    item_id: str | None = None,
) -> str:
    from recon.plaid.items import add_item_from_public_token, add_sandbox_item

    store = open_store(config.state.database_url)
    try:
        with plaid_session(config) as plaid:
            if public_token is not None:
                return str(
                    add_item_from_public_token(
                        store,
                        plaid.gateway,
                        plaid.vault,
                        public_token,
                        now=utc_now(),
                        item_id=item_id,
                    )
                )
            assert institution_id is not None
            return str(
                add_sandbox_item(store, plaid.gateway, plaid.vault, institution_id, now=utc_now(),
                                 webhook=config.webhooks.public_url)
            )
    finally:
        store.dispose()


def item_health(config: Config) -> list[str]:
    """One line per linked item for `recon items list`: plain words, no Python reprs; then the
    webhook sync queue and what needs attention (dead letters, failing retries, consent)."""
    from recon.plaid.items import list_items
    from recon.webhooks.queue import attention, queued_jobs

    store = open_store(config.state.database_url)
    try:
        now = utc_now()
        lines = [_item_line(item) for item in list_items(store, now=now)]
        with store.connect() as conn:
            jobs, notes = queued_jobs(conn), attention(conn, now=now)
        lines += [f"sync queue: {job.item_id} {job.state} ({job.requests} webhook(s), "
                  f"{job.attempts} tries so far)" for job in jobs]
        lines += [f"attention: {item_id}: {escape_control(note)}"
                  for item_id, item_notes in sorted(notes.items()) for note in item_notes]
        return lines
    finally:
        store.dispose()


def _item_line(item: PlaidItemHealth) -> str:
    synced = ("never synced" if item.last_sync_at is None
              else f"last sync {item.last_sync_at:%Y-%m-%d %H:%M} UTC")
    if item.token_age is None:
        age = "no access token"
    else:
        hours = int(item.token_age.total_seconds() // 3600)
        age = f"token age {hours // 24} d {hours % 24} h" if hours >= 24 else (
            f"token age {hours} h")
    accounts = f"{item.accounts} account" + ("" if item.accounts == 1 else "s")
    error = f", last error {item.last_sync_error}" if item.last_sync_error else ""
    name = escape_control(item.institution or "(unknown institution)")
    return f"{item.item_id}  {name}: {item.status}, {synced}, {age}, {accounts}{error}"


def rotate_keys(config: Config) -> int:
    from recon.plaid.tokens import TokenVault
    from recon.plaid.tokens import rotate_keys as rotate

    store = open_store(config.state.database_url)
    try:
        return int(rotate(store, TokenVault.from_env(config.secrets.token_key_env)))
    finally:
        store.dispose()


def import_annotations(config: Config, workbook: Path) -> str:
    from recon.reporting.annotations import import_annotations as do_import

    store = open_store(config.state.database_url)
    try:
        return str(do_import(store, workbook, expected_account_set=account_set_name(config)))
    finally:
        store.dispose()


def run_scheduled(config: Config) -> None:
    """`recon schedule`: the nightly run on the configured cron, in the foreground."""
    from recon.scheduling import run_scheduler

    run_scheduler(config)
