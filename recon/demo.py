"""`recon demo`: the whole job on the embedded default, with nothing to set up.

It generates a realistic ledger and bank history (recon.synth), serves the bank side from the
bundled Plaid emulator, links the demo banks through the real Plaid flow (sandbox public token ->
exchange -> encrypted access token), keeps state in SQLite under the work folder and runs the
same ``pipeline.run`` that cron runs. A second demo on the same day reuses everything the first
made (state, tokens, cursors) and so shows carry-forward; a demo for another as-of date starts
over with fresh data.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from recon.config import Config
from recon.pipeline import RunOutcome, plaid_session, run, utc_now
from recon.plaid.emulator.objects import dumps
from recon.store.db import open_store

log = logging.getLogger("recon.demo")

DEMO_SEED = 7


def demo_config(base: Config, workdir: Path) -> Config:
    """``base`` with every path and the Plaid connection pointed into the demo's work folder."""
    workdir = workdir.resolve()
    demo_dir = workdir / "demo"
    return base.model_copy(
        update={
            "plaid": base.plaid.model_copy(
                update={
                    "environment": "emulator",
                    "host": None,
                    "emulator_fixtures": demo_dir / "plaid-fixtures.json",
                }
            ),
            "ledger": base.ledger.model_copy(
                update={"source": "csv", "path": demo_dir / "ledger.csv"}
            ),
            "reports": base.reports.model_copy(update={"output_dir": workdir / "reports"}),
            "statement": base.statement.model_copy(
                update={"books_balance_file": demo_dir / "trial-balance.csv"}
            ),
            "state": base.state.model_copy(
                update={
                    "database_url": f"sqlite:///{(workdir / 'recon.db').resolve()}",
                    "lock_file": workdir / "recon.lock",
                    "metrics_file": workdir / "metrics" / "recon.prom",
                    "log_file": workdir / "log" / "recon.log",
                }
            ),
        }
    )


def ensure_token_key(config: Config, demo_dir: Path) -> None:
    """The demo keeps its own token key in a 0600 file unless the environment provides one."""
    from recon.plaid.tokens import generate_key

    env_name = config.secrets.token_key_env
    if os.environ.get(env_name) or os.environ.get(f"{env_name}_FILE"):
        return
    key_file = demo_dir / "token.key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(generate_key() + "\n", encoding="utf-8")
    os.environ[f"{env_name}_FILE"] = str(key_file.resolve())


def prepare_demo_data(workdir: Path, as_of: date) -> bool:
    """Write the generated ledger and emulator fixtures; True when the data is new."""
    from recon import synth

    demo_dir = workdir / "demo"
    marker = demo_dir / "as_of.txt"
    if marker.exists() and marker.read_text().strip() == as_of.isoformat():
        return False
    if workdir.exists():  # another as-of date: start the demo over
        for name in ("demo", "recon.db", "recon.db-wal", "recon.db-shm", "reports"):
            target = workdir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    demo_dir.mkdir(parents=True, exist_ok=True)
    data = synth.demo_dataset(as_of, seed=DEMO_SEED)
    synth.write_ledger_csv(data.ledger, demo_dir / "ledger.csv")
    fixtures = synth.to_plaid_fixtures(
        data, synth.demo_accounts(), items=synth.demo_items(),
        opening_minor=synth.DEMO_OPENING_MINOR,
    )
    # The general ledger's own balances: independent of the ledger export, as in real life.
    synth.write_trial_balance(
        data.ledger, synth.DEMO_OPENING_MINOR, as_of, demo_dir / "trial-balance.csv"
    )
    tmp = demo_dir / "plaid-fixtures.json.tmp"
    tmp.write_bytes(dumps(fixtures))  # exact decimal text for amounts
    tmp.replace(demo_dir / "plaid-fixtures.json")
    marker.write_text(as_of.isoformat() + "\n")
    return True


def link_demo_banks(config: Config) -> None:
    from recon import synth
    from recon.plaid.items import add_sandbox_item, list_items

    engine = open_store(config.state.database_url)
    try:
        linked = {item.item_id for item in list_items(engine, now=utc_now())}
        wanted = [item for item in synth.demo_items() if item[0] not in linked]
        if not wanted:
            return
        with plaid_session(config) as plaid:
            for _item_id, institution_id, name, _accounts in wanted:
                add_sandbox_item(engine, plaid.gateway, plaid.vault, institution_id, now=utc_now())
                log.info("linked demo bank", extra={"institution": name})
    finally:
        engine.dispose()


def run_demo(config: Config, *, workdir: Path, as_of: date | None = None) -> RunOutcome:
    """Run the demo with ``config`` as made by :func:`demo_config` for ``workdir``."""
    as_of = as_of or (datetime.now(UTC).date() - timedelta(days=1))
    workdir = workdir.resolve()
    fresh = prepare_demo_data(workdir, as_of)
    ensure_token_key(config, workdir / "demo")
    link_demo_banks(config)
    outcome = run(config, as_of=as_of)
    note = (
        "demo: generated new data"
        if fresh
        else "demo: reused the data, state and links of the previous demo run"
    )
    return RunOutcome(
        run_id=outcome.run_id,
        as_of=outcome.as_of,
        exit_code=outcome.exit_code,
        report_paths=outcome.report_paths,
        summary_lines=(f"{note} in {workdir}", *outcome.summary_lines),
        counts=outcome.counts,
    )
