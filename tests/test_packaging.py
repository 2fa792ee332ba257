"""The wheel ships every package of recon/: pyproject lists them by hand (see its comment)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_of_recon_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "recon").rglob("__init__.py")
    }
    assert found - listed == set(), "packages missing from pyproject's [tool.setuptools] list"
    assert listed - found == {"recon.templates"}  # shipped from reports/templates/
