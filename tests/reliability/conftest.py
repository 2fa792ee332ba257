"""Fixtures of the hardening suite (helpers and checks live in reliability.harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.harness import (
    TOKEN_KEY,
    TOKEN_KEY_ENV,
    Reference,
    Workdir,
    copy_workdir,
    prepare_workdir,
    reference_run,
)


@pytest.fixture(scope="session", autouse=True)
def token_key_in_environment() -> Iterator[str]:
    """The token key the prepared items were linked with, for this process and its children."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_KEY_ENV, TOKEN_KEY)
        patch.delenv(f"{TOKEN_KEY_ENV}_FILE", raising=False)
        patch.delenv("RECON_FAULT_POINT", raising=False)
        patch.delenv("RECON_FAULT_ACTION", raising=False)
        yield TOKEN_KEY



# Session scope: one generated dataset and one reference run for the whole suite (CI budget).
@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Workdir:
    return prepare_workdir(tmp_path_factory.mktemp("prepared") / "var")


@pytest.fixture
def scenario(prepared: Workdir, tmp_path: Path) -> Workdir:
    """A fresh copy of the prepared work folder (all report formats)."""
    return copy_workdir(prepared, tmp_path / "var")


@pytest.fixture(scope="session")
def reference(prepared: Workdir, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference_run(prepared, tmp_path_factory.mktemp("reference") / "var")
