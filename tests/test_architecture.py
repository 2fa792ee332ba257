"""Import directions: the engine and the report model stay pure.

They never import the store, Plaid, SQLAlchemy, the clock (``time``) or the environment
(``os``) themselves, and nothing they import pulls in the store, Plaid or SQLAlchemy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PURE = [*sorted((REPO / "recon" / "engine").rglob("*.py")), REPO / "recon/reporting/model.py"]
FORBIDDEN = ("recon.store", "recon.plaid", "sqlalchemy", "time", "os")


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN)


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(REPO)))
def test_pure_modules_import_no_io(path: Path) -> None:
    assert sorted(n for n in imported_modules(path) if forbidden(n)) == []


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import time\n    from recon.store import db\n")
    assert {n for n in imported_modules(module) if forbidden(n)} == {
        "time",
        "recon.store",
        "recon.store.db",
    }


def test_importing_the_engine_and_report_model_loads_no_store_plaid_or_sqlalchemy() -> None:
    code = (
        "import sys, recon.engine, recon.reporting.model\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'"
        " or m.startswith(('recon.store', 'recon.plaid'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert loaded.stdout.strip() == "[]"
