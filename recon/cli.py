"""The ``recon`` command line. Every command maps recon's errors to the exit-code contract."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from recon.config import Config, load_config
from recon.errors import (
    EXIT_CODE_HELP,
    SCREEN_PROBLEMS,
    ConfigError,
    ExitCode,
    InputError,
    ReconError,
    escape_control,
    exit_code_of,
    store_unavailable_message,
)
from recon.logs import Redactor, setup_logging

if TYPE_CHECKING:
    from recon.progress import ProgressDisplay

log = logging.getLogger("recon.cli")
F = TypeVar("F", bound=Callable[..., Any])

CONFIG_OPTION_HELP = "config.yaml to use (default: $RECON_CONFIG or ./config.yaml)"


def _default_config_path() -> Path:
    return Path(os.environ.get("RECON_CONFIG", "config.yaml"))


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=CONFIG_OPTION_HELP,
    )(func)


def _load(config_path: Path | None, adapt: Callable[[Config], Config] | None = None) -> Config:
    config = load_config(config_path or _default_config_path())
    if adapt is not None:
        config = adapt(config)
    _configure_logging_for(config)
    return config


def _configure_logging_for(config: Config) -> None:
    ctx = click.get_current_context()
    root_obj: dict[str, Any] = ctx.find_root().obj or {}
    if config.state.log_file is not None:
        root_obj["problems_dir"] = str(config.state.log_file.parent)
    env_names = [config.plaid.secret_env, config.plaid.client_id_env, config.secrets.token_key_env]
    if config.alerts.webhook is not None:
        env_names.append(config.alerts.webhook.url_env)
    if config.alerts.email is not None and config.alerts.email.password_env:
        env_names.append(config.alerts.email.password_env)
    if config.ledger.sql is not None:
        env_names.append(config.ledger.sql.url_env)
    env_names.append(config.export.key_env)
    Redactor.register_secret_env(*env_names)
    from recon.store.db import sqlite_database_path

    database = sqlite_database_path(config.state.database_url)
    setup_logging(
        level=root_obj.get("log_level", "INFO"),
        json_lines=root_obj.get("json", False),
        log_file=config.state.log_file,
        protected=() if database is None else (database,),
    )


@contextlib.contextmanager
def _progress_display() -> Iterator[ProgressDisplay | None]:
    """Progress bars on a terminal, not with --json-logs (call after the config is loaded, so
    the log handlers it set up are the ones the bars route around)."""
    from recon.progress import ProgressDisplay

    root_obj: dict[str, Any] = click.get_current_context().find_root().obj or {}
    display = ProgressDisplay.for_terminal(enabled=not root_obj.get("json", False))
    if display is None:
        yield None
        return
    with display:
        yield display


def handle_errors(func: F) -> F:
    """Turn recon's errors into their exit codes with a clear, redacted message."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            if len(exc.problems) > SCREEN_PROBLEMS:
                exc.full_list_path = _write_problem_list(exc)
            click.echo(Redactor.redact(f"recon: {exc}"), err=True)
            sys.exit(int(exc.exit_code))
        except ReconError as exc:
            # ConfigError escapes each listed problem itself; any other message may carry
            # outside text (a Plaid error, a path) and is one line.
            text = str(exc) if isinstance(exc, ConfigError) else escape_control(str(exc))
            click.echo(Redactor.redact(f"recon: {text}"), err=True)
            sys.exit(int(exc.exit_code))
        except DBAPIError as exc:  # the state store went away or stayed locked: retry later
            click.echo(Redactor.redact(f"recon: {store_unavailable_message(exc)}"), err=True)
            sys.exit(int(exit_code_of(exc)))
        except (click.exceptions.Exit, click.ClickException):  # click prints and exits itself
            raise
        except Exception as exc:  # the job failed in a way we did not foresee
            log.exception("unexpected error")
            message = escape_control(f"recon: failed: {type(exc).__name__}: {exc}")
            click.echo(Redactor.redact(message), err=True)
            sys.exit(int(ExitCode.FAILED))

    return wrapper  # type: ignore[return-value]


def _write_problem_list(exc: InputError) -> str | None:
    """The whole list of bad rows in a private file (next to the log, else in the temp folder);
    the terminal shows one screen of it."""
    import tempfile

    from recon.safefile import make_private_dir

    root_obj: dict[str, Any] = click.get_current_context().find_root().obj or {}
    folder = Path(root_obj.get("problems_dir") or tempfile.gettempdir())
    try:
        make_private_dir(folder)
        fd, name = tempfile.mkstemp(prefix="recon-problems-", suffix=".txt", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(Redactor.redact(exc.full_list()))
    except OSError as error:
        log.warning("could not write the list of bad rows", extra={"error": type(error).__name__})
        return None
    return name


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group(
    epilog="\b\n" + EXIT_CODE_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option("--json-logs", "json_logs", is_flag=True, help="JSON lines instead of key=value")
@click.version_option(package_name="recon")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, json_logs: bool) -> None:
    """recon: reconcile Plaid bank transactions against the internal ledger.

    Start with `recon demo`: it runs the whole job on generated data against the bundled Plaid
    emulator and prints where the reports are.
    """
    if log_level is None:
        log_level = "WARNING" if ctx.invoked_subcommand == "demo" else "INFO"
    ctx.obj = {"log_level": log_level, "json": json_logs}
    setup_logging(level=log_level, json_lines=json_logs)


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@handle_errors
def check_config(config_file: Path | None) -> None:
    """Validate a config file (default ./config.yaml); list every problem with its key path."""
    path = config_file or _default_config_path()
    config = load_config(path)
    click.echo(
        f"{path}: OK (fingerprint {config.fingerprint()}, {len(config.accounts)} accounts, "
        f"{len(config.matching.passes)} matching passes)"
    )


@cli.group()
def db() -> None:
    """State store maintenance."""


@db.command("upgrade")
@config_option
@handle_errors
def db_upgrade(config_path: Path | None) -> None:
    """Create or upgrade the state store schema to the newest migration."""
    from recon.store.db import create_store_engine, current_revision, describe_url, upgrade

    config = _load(config_path)
    engine = create_store_engine(config.state.database_url)
    upgrade(engine)
    click.echo(f"{describe_url(config.state.database_url)}: at revision {current_revision(engine)}")


def execution_options(func: F) -> F:
    """--executor, --workers, --scheduler: override config.yaml's ``execution:`` section."""
    for option in reversed((
        click.option("--executor", type=click.Choice(["local", "processes", "dask"]),
                     default=None, help="where the engine runs (default: execution.executor)"),
        click.option("--workers", type=click.IntRange(1, 1024), default=None,
                     help="worker processes of the pool or of a Dask LocalCluster"),
        click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="a running Dask scheduler (implies --executor dask; default: "
                          "$RECON_DASK_SCHEDULER, execution.scheduler, else a LocalCluster)"),
    )):  # fmt: skip
        func = option(func)
    return func


def _with_execution(
    config: Config, executor: str | None, workers: int | None, scheduler: str | None
) -> Config:
    from pydantic import ValidationError

    from recon.config import ExecutionConfig

    update: dict[str, Any] = {}
    if executor is not None:
        update["executor"] = executor
    if workers is not None:
        update["workers"] = workers
    if scheduler is not None:
        update["scheduler"] = scheduler
        update.setdefault("executor", "dask")
        if update["executor"] != "dask":
            raise click.UsageError("--scheduler needs --executor dask")
    if not update:
        return config
    try:
        execution = ExecutionConfig.model_validate(config.execution.model_dump() | update)
    except ValidationError as exc:
        raise click.UsageError(
            "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        ) from None
    return config.model_copy(update={"execution": execution})


@cli.command("run")
@config_option
@click.option(
    "--as-of",
    "as_of",
    callback=_parse_date,
    help="reconcile up to this day (default: yesterday in the schedule's time zone)",
)
@execution_options
@handle_errors
def run_command(
    config_path: Path | None,
    as_of: date | None,
    executor: str | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """The nightly job: sync, rotate tokens, load the ledger, match, save, report, alert."""
    from recon.pipeline import run

    config = _with_execution(_load(config_path), executor, workers, scheduler)
    with _progress_display() as display:
        outcome = run(config, as_of=as_of, display=display)
    _print_outcome(outcome)
    sys.exit(int(outcome.exit_code))


@cli.command("demo")
@config_option
@click.option(
    "--as-of",
    "as_of",
    callback=_parse_date,
    help="last day of the generated history (default: yesterday, UTC)",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var"),
    show_default=True,
    help="where the demo keeps its data, state and reports",
)
@handle_errors
def demo_command(config_path: Path | None, as_of: date | None, workdir: Path) -> None:
    """Run the whole job on the embedded default: bundled Plaid emulator + generated ledger."""
    from recon.demo import demo_config, run_demo

    config = _load(config_path, adapt=lambda base: demo_config(base, workdir))
    outcome = run_demo(config, workdir=workdir, as_of=as_of)
    _print_outcome(outcome)
    # The demo exists to show a result: a run above the alert threshold is still a success here.
    sys.exit(
        0
        if outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
        else int(outcome.exit_code)
    )


@cli.command("sync")
@config_option
@click.option(
    "--queued",
    is_flag=True,
    help="only run the due jobs of the webhook sync queue (what `recon webhooks serve` does)",
)
@handle_errors
def sync_command(config_path: Path | None, queued: bool) -> None:
    """Pull new, modified and removed transactions for every linked item."""
    from recon.pipeline import sync, sync_queued

    if queued:
        results = sync_queued(_load(config_path))
        for result in results:
            click.echo(
                f"{result.item_id}: {result.outcome} (attempt {result.attempts})"
                + (f" {result.error_code}" if result.error_code else "")
            )
        if not results:
            click.echo("no queued syncs are due")
        last = {result.item_id: result for result in results}  # a recovered job may succeed
        if any(r.outcome in ("retry", "dead_letter") for r in last.values()):
            sys.exit(int(ExitCode.UNAVAILABLE))
        return
    config = _load(config_path)
    with _progress_display() as display:
        outcomes = sync(config, display=display)
    for outcome in outcomes:
        click.echo(
            f"{outcome.item_id}: {outcome.status} (+{outcome.added} ~{outcome.modified} "
            f"-{outcome.removed})" + (f" {outcome.error_code}" if outcome.error_code else "")
        )
    if any(o.status == "failed" for o in outcomes):
        sys.exit(int(ExitCode.UNAVAILABLE))


@cli.command("backfill")
@config_option
@click.option("--start", required=True, callback=_parse_date, help="first day (YYYY-MM-DD)")
@click.option("--end", required=True, callback=_parse_date, help="last day (YYYY-MM-DD)")
@click.option("--item", "item_id", default=None, help="only this Plaid item")
@click.option(
    "--mode",
    type=click.Choice(["daily", "period"]),
    default="daily",
    show_default=True,
    help="reconcile each day's window, or the whole range as one period",
)
@handle_errors
def backfill_command(
    config_path: Path | None, start: date, end: date, item_id: str | None, mode: str
) -> None:
    """Pull a past date range with /transactions/get and reconcile it; resumable and idempotent."""
    from recon.pipeline import backfill

    if end < start:
        raise click.BadParameter("--end is before --start")
    config = _load(config_path)
    with _progress_display() as display:
        outcomes = backfill(
            config, start=start, end=end, item_id=item_id, mode=mode, display=display
        )
    worst = max((o.exit_code for o in outcomes), default=ExitCode.OK)
    click.echo(f"backfill {start}..{end}: {len(outcomes)} reconciliation(s) done")
    sys.exit(int(worst))


@cli.command("match")
@config_option
@click.option(
    "--bank",
    "bank_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plaid transactions JSON (list, {transactions: [...]}, or a sync response) or CSV",
)
@click.option(
    "--ledger",
    "ledger_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ledger file in the configured ledger format (csv or xlsx)",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--as-of", "as_of", callback=_parse_date, help="default: the latest date in the data")
@click.option(
    "--statement-balance",
    "statement_balances",
    multiple=True,
    metavar="ACCOUNT=AMOUNT",
    help="the bank statement balance of ACCOUNT (ledger account or Plaid account id) at the "
    "as-of date, for the reconciliation statement; repeat per account",
)
@execution_options
@handle_errors
def match_command(
    config_path: Path | None,
    bank_path: Path,
    ledger_path: Path,
    out_dir: Path,
    as_of: date | None,
    statement_balances: tuple[str, ...],
    executor: str | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    """Reconcile two files, without Plaid or the state store; write matches.csv & co. into OUT."""
    from recon.pipeline import match_files

    outcome = match_files(
        _with_execution(_load(config_path), executor, workers, scheduler),
        bank_path=bank_path,
        ledger_path=ledger_path,
        out_dir=out_dir,
        as_of=as_of,
        statement_balances=statement_balances,
    )
    _print_outcome(outcome)
    sys.exit(int(outcome.exit_code))


@cli.command("export")
@config_option
@click.option(
    "--as-of", "as_of", callback=_parse_date, help="the night to export (default: the latest)"
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="folder for the files (default: export.output_dir)",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help="replace the fields in export.pseudonymize with HMAC-SHA256 pseudonyms under the key "
    "in export.key_env (and leave free-text explanations and notes out)",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["parquet", "csv"]),
    default=("parquet", "csv"),
    show_default=True,
)
@handle_errors
def export_command(
    config_path: Path | None,
    as_of: date | None,
    out_dir: Path | None,
    pseudonymize: bool,
    formats: tuple[str, ...],
) -> None:
    """Write a night's links and discrepancies (both sides' details) as Parquet and CSV."""
    from recon.pipeline import export

    result = export(
        _load(config_path), as_of=as_of, out_dir=out_dir, pseudonymize=pseudonymize,
        formats=formats,
    )
    click.echo(
        f"exported {result.links} link(s) and {result.discrepancies} discrepancy row(s)"
        + (f", pseudonym key id {result.key_id}" if result.key_id else " (clear)")
    )
    for path in result.paths:
        click.echo(f"  {path}")


@cli.group()
def items() -> None:
    """Linked bank items (Plaid Items)."""


@items.command("add")
@config_option
@click.option(
    "--public-token",
    "public_token",
    default=None,
    help="a public token from Plaid Link (exchanged, never stored)",
)
@click.option(
    "--sandbox",
    "institution_id",
    default=None,
    help="create an item on the emulator or Plaid sandbox for this institution id",
)
@click.option(
    "--item",
    "item_id",
    default=None,
    help="re-link this existing item (update mode) with --public-token",
)
@handle_errors
def items_add(
    config_path: Path | None,
    public_token: str | None,
    institution_id: str | None,
    item_id: str | None,
) -> None:
    """Link a bank: exchange a public token, or create a sandbox item."""
    from recon.pipeline import add_item

    if (public_token is None) == (institution_id is None):
        raise click.UsageError("give exactly one of --public-token or --sandbox")
    if item_id is not None and public_token is None:
        raise click.UsageError("--item needs --public-token")
    item_id = add_item(
        _load(config_path),
        public_token=public_token,
        institution_id=institution_id,
        item_id=item_id,
    )
    click.echo(f"linked item {item_id}")


@items.command("list")
@config_option
@handle_errors
def items_list(config_path: Path | None) -> None:
    """Each item's health: status, last successful sync, token age, accounts (no secrets)."""
    from recon.pipeline import item_health

    rows = item_health(_load(config_path))
    if not rows:
        click.echo("no items linked yet: recon items add --sandbox ins_109508")
    for line in rows:
        click.echo(line)


@cli.group()
def keys() -> None:
    """Access-token encryption keys."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key for RECON_TOKEN_KEY (put it first in the list to rotate)."""
    from recon.plaid.tokens import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@config_option
@handle_errors
def keys_rotate(config_path: Path | None) -> None:
    """Re-encrypt every stored access token under the newest key in RECON_TOKEN_KEY."""
    from recon.pipeline import rotate_keys

    count = rotate_keys(_load(config_path))
    click.echo(f"re-encrypted {count} access token(s) under the newest key")


@cli.group("annotations")
def annotations_group() -> None:
    """Analysts' notes from the Excel report."""


@annotations_group.command("import")
@config_option
@click.argument("workbook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@handle_errors
def annotations_import(config_path: Path | None, workbook: Path) -> None:
    """Read status / owner / note columns back from a report workbook into the state store."""
    from recon.pipeline import import_annotations

    click.echo(import_annotations(_load(config_path), workbook))


@cli.command("schedule")
@config_option
@handle_errors
def schedule_command(config_path: Path | None) -> None:
    """Run the nightly job on the configured cron schedule, in the foreground."""
    from recon.pipeline import run_scheduled

    run_scheduled(_load(config_path))


@cli.group()
def webhooks() -> None:
    """Plaid webhooks: the verified receiver and its sync queue."""


@webhooks.command("serve")
@config_option
@click.option("--port", type=int, default=None, help="default: webhooks.port (8787)")
@click.option("--host", default=None, help="default: webhooks.listen_host (127.0.0.1)")
@handle_errors
def webhooks_serve(config_path: Path | None, port: int | None, host: str | None) -> None:
    """Receive Plaid webhooks on HOST:PORT at webhooks.path, verify each, and drain the sync
    queue in the background (under the run lock). Stops on Ctrl-C or SIGTERM."""
    from recon.pipeline import serve_webhooks

    config = _load(config_path)
    host = host or config.webhooks.listen_host
    port = port if port is not None else config.webhooks.port
    click.echo(f"recon webhooks on http://{host}:{port}{config.webhooks.path} (Ctrl-C to stop)")
    serve_webhooks(config, host=host, port=port)


@webhooks.command("register")
@config_option
@handle_errors
def webhooks_register(config_path: Path | None) -> None:
    """Point every active item's Plaid webhook at webhooks.public_url."""
    from recon.pipeline import register_webhooks

    config = _load(config_path)
    item_ids = register_webhooks(config)
    click.echo(f"{len(item_ids)} item(s) now send webhooks to {config.webhooks.public_url}")


@cli.group()
def emulator() -> None:
    """The bundled local Plaid API emulator."""


@emulator.command("serve")
@click.option(
    "--fixtures", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--webhook-url", default=None, help="where items linked without a webhook send theirs"
)
@handle_errors
def emulator_serve(fixtures: Path, port: int, webhook_url: str | None) -> None:
    """Serve the Plaid API on 127.0.0.1:PORT from a fixtures file (credentials from the env)."""
    from recon.plaid.emulator import serve

    client_id = os.environ.get("PLAID_CLIENT_ID", "recon-emulator-client")
    secret = os.environ.get("PLAID_SECRET", "recon-emulator-secret")
    click.echo(f"Plaid emulator on http://127.0.0.1:{port} (Ctrl-C to stop)")
    serve(fixtures, port, client_id=client_id, secret=secret, webhook_url=webhook_url)


def _print_outcome(outcome: Any) -> None:
    for line in outcome.summary_lines:
        click.echo(line)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="recon")
