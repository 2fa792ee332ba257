"""The README's first command, end to end, in a subprocess: demo twice, canaries never leak."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parents[1]
CANARY_SECRET = "canary-plaid-secret-7c1e55aa"
CANARY_CLIENT = "canary-client-id-31d0b2"
AS_OF = "2026-11-20"

pytestmark = pytest.mark.slow


def _run_demo(workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "recon",
            "demo",
            "--config",
            str(REPO / "config.yaml"),
            "--workdir",
            str(workdir),
            "--as-of",
            AS_OF,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir.parent,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    workdir = tmp_path_factory.mktemp("demo") / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECON_", "PLAID_"))}
    env.update(PLAID_SECRET=CANARY_SECRET, PLAID_CLIENT_ID=CANARY_CLIENT)
    first = _run_demo(workdir, env)
    second = _run_demo(workdir, env)
    return workdir, [first, second]


def test_demo_prints_real_reports_twice(
    demo_runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    workdir, results = demo_runs
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"reconciliation-{AS_OF}.xlsx" in result.stdout
        assert f"reconciliation-{AS_OF}.html" in result.stdout
    assert "reused" in results[1].stdout
    workbook = openpyxl.load_workbook(workdir / "reports" / f"reconciliation-{AS_OF}.xlsx")
    sheet_names = " ".join(workbook.sheetnames).lower()
    assert "statement" in sheet_names and "summary" in sheet_names and "match" in sheet_names
    matches_sheet = next(ws for ws in workbook.worksheets if ws.title.lower().startswith("match"))
    assert matches_sheet.max_row > 100  # real matched content, not an empty shell
    html = (workdir / "reports" / f"reconciliation-{AS_OF}.html").read_text()
    assert "Bank reconciliation statements" in html
    assert html.count("The books and the bank agree.") == 3  # every demo statement ties out


def test_canary_secrets_never_leak(
    demo_runs: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    workdir, results = demo_runs
    texts = [r.stdout + r.stderr for r in results]
    for path in workdir.rglob("*"):
        if not path.is_file() or path.name == "token.key":
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                texts.extend(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
        elif path.suffix in (".db",):
            connection = sqlite3.connect(path)
            texts.append("\n".join(connection.iterdump()))
            connection.close()
        else:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    everything = "\n".join(texts)
    assert CANARY_SECRET not in everything
    assert CANARY_CLIENT not in everything
    assert "access-sandbox-" not in everything  # no plaintext access token anywhere
    key = (workdir / "demo" / "token.key").read_text().strip()
    assert key not in everything
