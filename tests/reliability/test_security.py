"""Issue "Hardening" 5 (scenario table G): canary sweep over every output channel of real
`recon run` children (with failures), card numbers masked, hostile descriptions inert in every
report format and in the log, and encrypted tokens bound to their item."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, update

from recon import pipeline
from recon.demo import link_demo_banks, prepare_demo_data
from recon.errors import ExitCode
from recon.plaid.emulator import Emulator, EmulatorServer
from recon.plaid.emulator.objects import dumps
from recon.plaid.tokens import TokenVault, load_access_token
from recon.store.schema import items
from reliability.harness import (
    AS_OF,
    TOKEN_KEY,
    TOKEN_KEY_ENV,
    Workdir,
    child_env,
    copy_workdir,
    store_state,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CANARY_CLIENT_ID = "canary-client-5be0c1d2"
CANARY_SECRET = "canary-plaid-secret-e41f9a7c63"
WRONG_SECRET = "canary-wrong-secret-0d93b7a1"
CARD = "4111111111111111"  # Luhn-valid test PAN
MASKED_CARD = "************1111"
OPERATING_ACCOUNT = "dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK"
DAY = "2026-11-19"

FORMULA_PAYLOADS = ('=HYPERLINK("http://x","y")', "+1+2", "@SUM(1)", "-2+3")
HTML_PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
LOG_PAYLOADS = ("fee\n2025-01-01 INFO fake line", "fee \x1b[31mred\x1b[0m")
SHARED_PAYLOADS = FORMULA_PAYLOADS + HTML_PAYLOADS  # planted on both the bank and ledger side


@dataclass(frozen=True)
class Sweep:
    work: Workdir
    access_tokens: tuple[str, ...]
    results: dict[str, subprocess.CompletedProcess[str]]


def _plant_ledger_rows(ledger: Path) -> None:
    rows = [["SEC-CARD", DAY, "-4321.07", "USD", f"Card payment {CARD} ref", "", "Acme",
             "1010-operating-usd"]]
    rows += [[f"SEC-{i}", DAY, f"-{1000 + i}.13", "USD", payload, "", "Acme",
              "1010-operating-usd"] for i, payload in enumerate(SHARED_PAYLOADS)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    with ledger.open("a", encoding="utf-8", newline="") as handle:
        handle.write(out.getvalue())


def _plant_bank_transactions(fixtures: Path) -> None:
    data = json.loads(fixtures.read_text(), parse_float=Decimal)
    item = next(i for i in data["items"]
                if any(a["account_id"] == OPERATING_ACCOUNT for a in i["accounts"]))
    template = next(t for t in item["transactions"] if t["account_id"] == OPERATING_ACCOUNT)
    names = (f"POS {CARD} COFFEE", *SHARED_PAYLOADS, *LOG_PAYLOADS)
    for i, name in enumerate(names):
        item["transactions"].append({
            **template, "transaction_id": f"secTxn{i:04d}planted",
            "amount": Decimal(f"{700 + i}.29"),
            "date": DAY, "authorized_date": DAY, "name": name, "merchant_name": None,
            "payment_meta": {"reference_number": None}, "pending": False,
            "pending_transaction_id": None,
        })
    fixtures.write_bytes(dumps(data))


def _run(work: Workdir, secret: str) -> subprocess.CompletedProcess[str]:
    env = child_env(PLAID_CLIENT_ID=CANARY_CLIENT_ID, PLAID_SECRET=secret)
    return work.recon(*work.run_args(), env=env)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    root = tmp_path_factory.mktemp("security") / "var"
    prepare_demo_data(root, AS_OF)
    ledger = root / "demo" / "ledger.csv"
    fixtures = root / "demo" / "plaid-fixtures.json"
    _plant_ledger_rows(ledger)
    _plant_bank_transactions(fixtures)
    # The bank is an emulator this process runs with the canary credentials, so a child given
    # another secret is refused like by Plaid.
    emulator = Emulator.from_file(fixtures, client_id=CANARY_CLIENT_ID, secret=CANARY_SECRET,
                                  state_path=fixtures.with_suffix(".state.json"))
    with EmulatorServer(emulator) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLAID_CLIENT_ID", CANARY_CLIENT_ID)
        patch.setenv("PLAID_SECRET", CANARY_SECRET)
        work = Workdir.create(root, tweak=lambda data: data["plaid"].update(host=server.url))
        link_demo_banks(work.config)
        engine = work.engine()
        vault = TokenVault.from_env(TOKEN_KEY_ENV)
        with engine.connect() as conn:
            item_ids = list(conn.execute(select(items.c.item_id)).scalars())
            tokens = tuple(load_access_token(conn, vault, item_id) for item_id in item_ids)
        engine.dispose()
        patch.delenv("PLAID_SECRET")
        results = {"wrong_secret": _run(work, WRONG_SECRET)}
        good_ledger = ledger.read_bytes()
        ledger.write_bytes(good_ledger + f"SEC-BAD,{DAY},NaN,USD,Refund {CARD},,Acme,"
                                         "1010-operating-usd\n".encode())
        results["bad_ledger"] = _run(work, CANARY_SECRET)
        ledger.write_bytes(good_ledger)
        results["normal"] = _run(work, CANARY_SECRET)
        yield Sweep(work, tokens, results)


def test_the_runs_failed_and_succeeded_as_scripted(sweep: Sweep) -> None:
    wrong, bad, normal = (sweep.results[k] for k in ("wrong_secret", "bad_ledger", "normal"))
    assert wrong.returncode in (69, 78), wrong.stderr[-3000:]
    assert bad.returncode == 65, bad.stderr[-3000:]
    assert "row " in bad.stderr and "'amount'" in bad.stderr
    assert normal.returncode in (0, 3), normal.stderr[-3000:]
    assert all(len(token) > 10 for token in sweep.access_tokens)


def _output_texts(sweep: Sweep) -> dict[str, str]:
    """Every output channel: child stdout/stderr, log, metrics, reports (XLSX unzipped), runs
    error column and a full SQL dump of the store."""
    texts: dict[str, str] = {}
    for name, result in sweep.results.items():
        texts[f"{name}:stdout"] = result.stdout
        texts[f"{name}:stderr"] = result.stderr
    root = sweep.work.root
    for folder in ("log", "metrics", "reports"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as archive:
                    for part in archive.namelist():
                        texts[f"{path.name}!{part}"] = archive.read(part).decode("utf-8",
                                                                                  "replace")
            elif path.is_file():
                texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    connection = sqlite3.connect(root / "recon.db")
    try:
        texts["db dump"] = "\n".join(connection.iterdump())
        errors = connection.execute("SELECT error FROM runs WHERE error IS NOT NULL").fetchall()
    finally:
        connection.close()
    texts["runs.error"] = "\n".join(e for (e,) in errors)
    return texts


def test_no_canary_reaches_any_output_channel(sweep: Sweep) -> None:
    texts = _output_texts(sweep)
    assert texts["runs.error"]  # the failed runs left their (redacted) reason
    assert any("log" in name for name in texts) and "db dump" in texts
    canaries = {"plaid secret": CANARY_SECRET, "wrong secret": WRONG_SECRET,
                "client id": CANARY_CLIENT_ID, "token key": TOKEN_KEY, "card number": CARD}
    canaries.update({f"access token {i}": t for i, t in enumerate(sweep.access_tokens)})
    leaks = [(what, where) for what, value in canaries.items()
             for where, content in texts.items() if value in content]
    assert leaks == []


def test_card_numbers_appear_masked_where_descriptions_are_shown(sweep: Sweep) -> None:
    texts = _output_texts(sweep)
    html = next(v for k, v in texts.items() if k.endswith(".html"))
    csv_text = next(v for k, v in texts.items() if "discrepancies" in k and k.endswith(".csv"))
    sheets = "".join(v for k, v in texts.items() if ".xlsx!xl/" in k)
    for shown in (html, csv_text, sheets):
        assert f"Card payment {MASKED_CARD} ref" in shown  # the ledger side
        assert f"POS {MASKED_CARD} COFFEE" in shown  # the bank side
    assert f"POS {MASKED_CARD} COFFEE" in texts["db dump"]


def _report(sweep: Sweep, suffix: str, prefix: str = "reconciliation") -> Path:
    return sweep.work.reports_dir / f"{prefix}-{AS_OF}{suffix}"


def test_formula_and_html_payloads_are_plain_text_in_the_workbook(sweep: Sweep) -> None:
    path = _report(sweep, ".xlsx")
    with zipfile.ZipFile(path) as archive:
        for part in archive.namelist():
            if not part.startswith("xl/worksheets/"):
                continue
            formulas = re.findall(r"<f[ >].*?</f>", archive.read(part).decode())
            for formula in formulas:  # the template's own formulas only (sheet links, totals)
                assert not any(p in formula for p in ("http://x", "SUM(1)", "1+2", "2+3",
                                                      "alert")), formula
    workbook = openpyxl.load_workbook(path)
    cells = {cell.value: cell for sheet in workbook.worksheets for row in sheet.iter_rows()
             for cell in row if isinstance(cell.value, str)}
    for payload in SHARED_PAYLOADS:
        assert payload in cells, payload  # shown as the text it is
        assert cells[payload].data_type == "s"
    for payload in FORMULA_PAYLOADS:
        assert cells[payload].quotePrefix, payload


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)


def test_html_payloads_are_escaped_in_the_html_report(sweep: Sweep) -> None:
    parser = _Tags()
    parser.feed(_report(sweep, ".html").read_text(encoding="utf-8"))
    tags = [tag for tag, _attrs in parser.tags]
    assert "img" not in tags
    # The template's one inline script (table sorting); none from data.
    assert tags.count("script") == 1 and "alert" not in "".join(parser.scripts)
    assert [(tag, name) for tag, attrs in parser.tags for name, _v in attrs
            if name.lower().startswith("on")] == []
    text = "".join(parser.text)
    for payload in SHARED_PAYLOADS:
        assert payload in text, payload  # the reader sees the text itself


def test_formula_payloads_are_neutralised_in_the_csv(sweep: Sweep) -> None:
    path = _report(sweep, ".csv", prefix="discrepancies")
    with path.open(newline="", encoding="utf-8") as handle:
        fields = [field for row in csv.reader(handle) for field in row]
    for payload in FORMULA_PAYLOADS:
        assert f"'{payload}" in fields, payload
        assert payload not in fields  # never a bare formula
    assert not any(f.startswith(("=", "+", "@")) for f in fields)
    assert not any(f.startswith("-") and not re.fullmatch(r"-[\d.]+", f) for f in fields)


def test_the_log_keeps_one_line_per_record(sweep: Sweep) -> None:
    log_file = sweep.work.config.state.log_file
    assert log_file is not None
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines
    first = lines[0][:3]
    assert all(line.startswith(first) for line in lines), [
        line for line in lines if not line.startswith(first)][:3]
    everything = "\n".join([*lines, *(r.stderr for r in sweep.results.values())])
    assert "\x1b" not in everything
    assert not any(line.startswith("2025-01-01 INFO fake line")
                   for r in sweep.results.values() for line in r.stderr.splitlines())


# --------------------------------------------------------------------------- G-10 token swap


def test_swapped_token_ciphertexts_are_refused_and_never_used(
    prepared: Workdir, tmp_path: Path
) -> None:
    work = copy_workdir(prepared, tmp_path / "var", formats=("json",))
    engine = work.engine()
    with engine.begin() as conn:
        rows = conn.execute(select(items.c.item_id, items.c.access_token_ciphertext)
                            .order_by(items.c.item_id)).all()
        assert len(rows) == 2
        (first, first_blob), (second, second_blob) = rows
        conn.execute(update(items).where(items.c.item_id == first)
                     .values(access_token_ciphertext=second_blob))
        conn.execute(update(items).where(items.c.item_id == second)
                     .values(access_token_ciphertext=first_blob))
    outcome = pipeline.run(work.config, as_of=AS_OF)
    assert outcome.exit_code == ExitCode.UNAVAILABLE
    state = store_state(engine)
    assert state.bank == [] and state.cursors == {}  # nothing fetched for either item
    with engine.connect() as conn:
        errors: dict[str, str | None] = dict(conn.execute(
            select(items.c.item_id, items.c.last_sync_error)).all())
    assert errors == {first: "TOKEN_UNUSABLE", second: "TOKEN_UNUSABLE"}
    engine.dispose()
    assert outcome.counts["transactions_synced"] == 0
    summary = "\n".join(outcome.summary_lines)
    assert first in summary and second in summary, summary
