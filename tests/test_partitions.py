"""Partitioned execution (issue 18): the rows cut by (account, currency), reconciled on a process
pool or a Dask cluster, merged into exactly what the single in-process run gives; workers that
die are retried; each partition's result is committed on its own and a re-run reuses it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from recon import pipeline
from recon.config import (
    Config,
    ExecutionConfig,
    GroupSearch,
    MatchingConfig,
    load_config,
    parse_config,
)
from recon.demo import demo_config, link_demo_banks, prepare_demo_data
from recon.engine import reconcile
from recon.errors import ExitCode
from recon.execution import PartitionError, reconcile_with
from recon.frames import MatchResult
from recon.partitions import merge, reconcile_task, split
from recon.plaid.tokens import generate_key
from recon.store.db import open_store
from recon.store.schema import discrepancies, matches, partition_results, runs
from recon.synth import SynthAccount, demo_accounts, generate
from tests.bankworld import build
from tests.bankworld.run import RunOutput, run_recon
from tests.conftest import fresh_postgres_schema

REPO = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
FROZEN_NOW = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
ACCOUNTS = (
    *demo_accounts(),
    SynthAccount("Ew3kR8nYq2LpZ5vT7xB4cM9dF1gH6jK0sAoUi", "1040-berlin-eur", "EUR", "Berlin EUR"),
)
START = date(2025, 1, 1)
END = START + timedelta(days=40)


def _matching() -> MatchingConfig:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    return parse_config(data, environ={}).matching


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = generate(ACCOUNTS, start=START, end=END, seed=18, ledger_rows=3000)
    return data.bank, data.ledger


def _same(left: MatchResult, right: MatchResult) -> None:
    for name in ("links", "discrepancies", "alternatives"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), check_exact=True)


def test_partitions_merge_into_the_single_run(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    bank, ledger = frames
    matching = _matching()
    single = reconcile(bank, ledger, matching, as_of=END)
    tasks = split(bank.sample(frac=1, random_state=1), ledger, matching, as_of=END)
    assert [t.key for t in tasks] == sorted(
        (a.ledger_account, a.currency) for a in ACCOUNTS
    )
    assert len(single.alternatives) and len(single.discrepancies)
    _same(single, merge([reconcile_task(t) for t in reversed(tasks)]))


@pytest.fixture(scope="module")
def bankworld(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunOutput]:
    """Four accounts in USD, EUR and JPY of data recon did not generate (tests/bankworld): a
    reference, a truncated word or a payout of one account also appears near another's."""
    folder = tmp_path_factory.mktemp("bankworld")
    build(5000, folder, "default")
    return folder, run_recon(folder)


@pytest.mark.parametrize("subset_sums", [None, 2000])
def test_each_partition_alone_gives_its_part_of_the_whole_run(
    bankworld: tuple[Path, RunOutput], subset_sums: int | None
) -> None:
    """Nothing learned from one partition's rows (references, words cut short, the group
    search's work budget: 2,000 sums runs out) decides another partition's links."""
    folder, world = bankworld
    matching = load_config(folder / "config.yaml").matching
    if subset_sums is not None:
        matching = matching.model_copy(update={"passes": tuple(
            p.model_copy(update={"max_subset_sums": subset_sums})
            if isinstance(p, GroupSearch) else p for p in matching.passes
        )})  # fmt: skip
    whole = reconcile(world.bank, world.ledger, matching, as_of=world.as_of)
    tasks = split(world.bank, world.ledger, matching, as_of=world.as_of)
    assert len(tasks) == 4 and len(whole.alternatives)
    _same(whole, merge([reconcile_task(t) for t in tasks]))


def test_the_same_rows_in_another_order_make_the_same_partitions(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    bank, ledger = frames
    first = split(bank, ledger, _matching(), as_of=END)
    again = split(bank.iloc[::-1], ledger.sample(frac=1, random_state=2), _matching(), as_of=END)
    assert [t.digest for t in first] == [t.digest for t in again]


def test_a_rule_across_accounts_keeps_one_partition_per_currency(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    bank, ledger = frames
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    exact_amount = next(p for p in data["matching"]["passes"] if p["name"] == "exact_amount")
    exact_amount["same_account"] = False
    matching = parse_config(data, environ={}).matching
    tasks = split(bank, ledger, matching, as_of=END)
    assert [t.key for t in tasks] == [("", "EUR"), ("", "JPY"), ("", "USD")]
    _same(reconcile(bank, ledger, matching, as_of=END),
          merge([reconcile_task(t) for t in tasks]))


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_a_worker_killed_mid_partition_is_retried_and_the_result_is_the_same(
    executor: str, frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank, ledger = frames
    matching = _matching()
    once = tmp_path / "killed-once"
    monkeypatch.setenv("RECON_FAULT_POINT", "partition.reconciling")
    monkeypatch.setenv("RECON_FAULT_ACTION", "kill")
    monkeypatch.setenv("RECON_FAULT_ONCE", str(once))
    run = reconcile_with(ExecutionConfig(executor=executor, workers=2), bank, ledger, matching,
                         as_of=END)  # fmt: skip
    assert once.exists()  # a worker did die
    assert len(run.reports) == len(ACCOUNTS)
    _same(reconcile(bank, ledger, matching, as_of=END), run.result)


def test_a_worker_that_keeps_dying_fails_the_run_by_name(
    frames: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank, ledger = frames
    monkeypatch.setenv("RECON_FAULT_POINT", "partition.reconciling")
    monkeypatch.setenv("RECON_FAULT_ACTION", "kill")
    with pytest.raises(PartitionError, match="the worker died 2 times"):
        reconcile_with(ExecutionConfig(executor="processes", workers=2, retries=1),
                       bank, ledger, _matching(), as_of=END)  # fmt: skip


# --- recon match: the written files, byte for byte ------------------------------------------


@pytest.fixture(scope="module")
def match_files_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's bank transactions as a Plaid JSON list and its ledger CSV."""
    folder = tmp_path_factory.mktemp("match")
    prepare_demo_data(folder, AS_OF)
    fixtures = json.loads((folder / "demo" / "plaid-fixtures.json").read_text())
    transactions = [t for item in fixtures["items"] for t in item["transactions"]]
    (folder / "bank.json").write_text(json.dumps(transactions))
    return folder


def _match_outputs(folder: Path, out: Path, execution: ExecutionConfig) -> dict[str, bytes]:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    config = parse_config(data, environ={}).resolve_paths(REPO)
    config = config.model_copy(update={"execution": execution})
    outcome = pipeline.match_files(config, bank_path=folder / "bank.json",
                                   ledger_path=folder / "demo" / "ledger.csv", out_dir=out,
                                   as_of=AS_OF)  # fmt: skip
    assert outcome.exit_code in (ExitCode.OK, ExitCode.DISCREPANCIES_ABOVE_THRESHOLD)
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix != ".xlsx"}
    for workbook in out.glob("*.xlsx"):
        # Every part of the workbook but docProps/core.xml, where xlsxwriter writes the wall
        # clock's time of writing.
        with zipfile.ZipFile(workbook) as archive:
            files |= {f"{workbook.name}:{name}": archive.read(name)
                      for name in archive.namelist() if name != "docProps/core.xml"}
    return files


def test_recon_match_writes_the_same_bytes_on_every_executor(
    match_files_in: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "utc_now", lambda: FROZEN_NOW)
    local = _match_outputs(match_files_in, tmp_path / "local", ExecutionConfig())
    assert {"matches.csv", "discrepancies.csv", "summary.json"} <= set(local)
    assert any(name.endswith(".xlsx:xl/workbook.xml") for name in local)
    assert local["matches.csv"].count(b"\n") > 1000
    processes = _match_outputs(match_files_in, tmp_path / "processes",
                               ExecutionConfig(executor="processes", workers=2))  # fmt: skip
    assert processes == local
    from distributed import LocalCluster

    # A scheduler already running, named by the environment (as on a cluster).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip
        monkeypatch.setenv("RECON_DASK_SCHEDULER", cluster.scheduler_address)
        on_dask = _match_outputs(match_files_in, tmp_path / "dask",
                                 ExecutionConfig(executor="dask"))  # fmt: skip
    assert on_dask == local


# --- recon run: PostgreSQL holds each partition's state -------------------------------------


@pytest.fixture
def token_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = generate_key()
    monkeypatch.setenv("RECON_TOKEN_KEY", key)
    monkeypatch.delenv("RECON_TOKEN_KEY_FILE", raising=False)
    return key


def _demo(workdir: Path, database_url: str, executor: str) -> Config:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["reports"]["formats"] = ["csv", "json"]
    data["execution"] = {"executor": executor, "workers": 2}
    config = demo_config(parse_config(data, environ={}).resolve_paths(REPO), workdir)
    config = config.model_copy(
        update={"state": config.state.model_copy(update={"database_url": database_url})}
    )
    prepare_demo_data(workdir, AS_OF)
    link_demo_banks(config)
    return config


@pytest.fixture
def second_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """Another fresh schema: a second store beside ``postgres_schema_url``."""
    with fresh_postgres_schema(postgres_admin_url) as url:
        yield url


def _stored(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        links = conn.execute(select(
            matches.c.match_id, matches.c.bank_transaction_id, matches.c.ledger_entry_id,
            matches.c.status, matches.c.explanation,
        ).order_by(matches.c.match_id, matches.c.bank_transaction_id,
                   matches.c.ledger_entry_id)).all()  # fmt: skip
        items = conn.execute(select(
            discrepancies.c.discrepancy_id, discrepancies.c.kind, discrepancies.c.amount_minor,
            discrepancies.c.explanation,
        ).order_by(discrepancies.c.discrepancy_id)).all()  # fmt: skip
    return [tuple(r) for r in links], [tuple(r) for r in items]


def _report_files(config: Config) -> dict[str, bytes]:
    kinds = ("matches", "discrepancies", "journal-entries")
    names = (f"{kind}-{AS_OF.isoformat()}.csv" for kind in kinds)
    return {n: (config.reports.output_dir / n).read_bytes() for n in names}


@pytest.mark.postgres
def test_recon_run_on_dask_with_postgres_equals_the_local_run(
    tmp_path: Path, token_key: str, postgres_schema_url: str, second_postgres_url: str,
) -> None:
    local = _demo(tmp_path / "local", postgres_schema_url, "local")
    on_dask = _demo(tmp_path / "dask", second_postgres_url, "dask")
    first = pipeline.run(local, as_of=AS_OF)
    second = pipeline.run(on_dask, as_of=AS_OF)

    assert second.exit_code == first.exit_code
    assert second.counts["partitions"] == 3
    assert _report_files(on_dask) == _report_files(local)
    local_store, dask_store = open_store(postgres_schema_url), open_store(second_postgres_url)
    try:
        assert _stored(dask_store) == _stored(local_store)
        with dask_store.connect() as conn:
            assert conn.execute(select(runs.c.state)).scalars().all() == ["succeeded"]
            # The night's partition rows went with the transaction that saved its results.
            assert conn.execute(select(func.count()).select_from(partition_results)).scalar() == 0
    finally:
        local_store.dispose()
        dask_store.dispose()


@pytest.mark.postgres
def test_a_rerun_redoes_only_the_partition_that_did_not_commit(
    tmp_path: Path, token_key: str, postgres_schema_url: str, second_postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _demo(tmp_path / "processes", postgres_schema_url, "processes")
    monkeypatch.setenv("RECON_FAULT_POINT", "partition.reconciling")
    monkeypatch.setenv("RECON_FAULT_ACTION", "dberror")
    monkeypatch.setenv("RECON_FAULT_ONCE", str(tmp_path / "failed-once"))
    with pytest.raises(OperationalError):
        pipeline.run(config, as_of=AS_OF)
    store = open_store(postgres_schema_url)
    try:
        with store.connect() as conn:
            assert conn.execute(select(runs.c.state)).scalars().all() == ["failed"]
            assert conn.execute(select(func.count()).select_from(matches)).scalar() == 0
            committed = conn.execute(select(partition_results.c.partition)).scalars().all()
        assert len(committed) == 2  # the two partitions whose workers did not fail

        again = pipeline.run(config, as_of=AS_OF)
        assert again.counts["partitions"] == 3
        assert again.counts["partitions_committed_before"] == 2

        local = _demo(tmp_path / "local", second_postgres_url, "local")
        pipeline.run(local, as_of=AS_OF)
        assert _report_files(config) == _report_files(local)
        local_store = open_store(second_postgres_url)
        try:
            assert _stored(store) == _stored(local_store)
        finally:
            local_store.dispose()
    finally:
        store.dispose()


# --- configuration and command line ---------------------------------------------------------


def test_the_scheduler_address_comes_from_the_environment_first() -> None:
    execution = ExecutionConfig(executor="dask", scheduler="tcp://from-config:8786")
    assert execution.scheduler_address({}) == "tcp://from-config:8786"
    assert execution.scheduler_address({"RECON_DASK_SCHEDULER": "tcp://env:8786"}) == (
        "tcp://env:8786")
    assert ExecutionConfig().scheduler_address({}) is None
    assert parse_config({}, environ={}).execution.executor == "local"


def test_a_scheduler_address_with_credentials_is_refused() -> None:
    from recon.errors import ConfigError

    with pytest.raises(ConfigError, match=r"execution\.scheduler"):
        parse_config({"execution": {"scheduler": "tcp://user:pw@host:8786"}}, environ={})


def test_the_command_line_checks_the_executor_options(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from recon.cli import cli

    config = tmp_path / "config.yaml"
    config.write_text("accounts: []\n")
    wrong = CliRunner().invoke(cli, ["run", "--config", str(config), "--executor", "processes",
                                     "--scheduler", "tcp://127.0.0.1:8786"])  # fmt: skip
    assert wrong.exit_code == 2
    assert "--scheduler needs --executor dask" in wrong.output
    bad = CliRunner().invoke(cli, ["run", "--config", str(config), "--scheduler", "nowhere"])
    assert bad.exit_code == 2
    assert "--scheduler" in bad.output


def test_partitions_read_the_learned_payees_like_the_single_run(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    from recon.engine.payees import PayeeMemory, descriptor_key

    bank, ledger = frames
    matching = _matching()
    # Teach every descriptor of the first hundred bank rows some ledger counterparty.
    parties = ledger["counterparty"].astype(str).tolist()
    memory = PayeeMemory.from_links(
        (descriptor_key(str(d)), parties[i % len(parties)], 1)
        for i, d in enumerate(bank["description"].head(100))
    )
    assert len(memory)
    single = reconcile(bank, ledger, matching, as_of=END, payees=memory)
    tasks = split(bank, ledger, matching, as_of=END, payees=memory)
    assert PayeeMemory.from_json(tasks[0].payees_json) == memory
    assert tasks[0].digest != split(bank, ledger, matching, as_of=END)[0].digest
    _same(single, merge([reconcile_task(t) for t in tasks]))


def test_workers_read_their_bank_rows_from_the_store_and_refuse_changed_ones(
    tmp_path: Path, token_key: str
) -> None:
    """With a state store, a partition's bank rows stay out of its task: the worker reads them
    (the night's window, its accounts and currency) and checks they are the rows the run cut."""
    from sqlalchemy import update

    from recon.execution import work
    from recon.ledger import load_ledger
    from recon.partitions import BankSource
    from recon.store.bank import BankWindow, load_bank_rows
    from recon.store.partitions import BankRowsChanged
    from recon.store.schema import bank_transactions

    data = yaml.safe_load((REPO / "config.yaml").read_text())
    config = demo_config(parse_config(data, environ={}).resolve_paths(REPO), tmp_path)
    prepare_demo_data(tmp_path, AS_OF)
    link_demo_banks(config)
    pipeline.sync(config)
    url = config.state.database_url
    # Carried items and partner-only rows included: the rules travel with the window.
    window = BankWindow(AS_OF - timedelta(days=40), AS_OF, AS_OF - timedelta(days=30),
                        AS_OF - timedelta(days=25), frozenset())  # fmt: skip
    store = open_store(url)
    try:
        bank = load_bank_rows(store, window, config.accounts)
        carried = frozenset(bank["transaction_id"].iloc[:3])
        window = BankWindow(window.start, window.end, window.context_start, window.window_start,
                            carried)  # fmt: skip
        bank = load_bank_rows(store, window, config.accounts)
        assert bank["partner_only"].any() and set(carried) <= set(bank["transaction_id"])
        ledger = load_ledger(config.ledger, config.accounts, window_start=window.start,
                             window_end=AS_OF).frame  # fmt: skip
        matching = config.matching
        source = BankSource(window.to_json(), tuple(config.accounts))
        tasks = split(bank, ledger, matching, as_of=AS_OF, bank_source=source)
        shipped = split(bank, ledger, matching, as_of=AS_OF)
        assert len(tasks) == 3 and all(t.bank == b"" and t.bank_query for t in tasks)
        assert [t.digest for t in tasks] == [t.digest for t in shipped]
        results = [work(task, url)[0] for task in tasks]
        _same(merge([reconcile_task(t) for t in shipped]), merge(results))
        _same(reconcile(bank, ledger, matching, as_of=AS_OF), merge(results))

        changed = bank[bank["account"] == tasks[-1].key[0]]["transaction_id"].iloc[0]
        with store.begin() as conn:
            conn.execute(update(bank_transactions)
                         .where(bank_transactions.c.transaction_id == changed)
                         .values(amount_minor=bank_transactions.c.amount_minor + 1))  # fmt: skip
        with pytest.raises(BankRowsChanged, match=f"partition {tasks[-1].name}: the bank rows"):
            work(tasks[-1], url)
        work(tasks[0], url)  # the other partitions' rows are as they were
    finally:
        store.dispose()
