"""Atomic file replacement: a reader sees the old file or the whole new one, never half of one.

The new content goes to a temporary file in the target's folder (same file system, so
``os.replace`` is an atomic rename), is fsynced, renamed over the target, and the folder is
fsynced so the rename itself survives a power cut. If the writer raises, the temporary file is
removed and the target is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from recon.faults import fault_point


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target`` atomically.

    For writers that want a file name (openpyxl's ``Workbook.save``) rather than a file object.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        _fsync_file(temp)
        # Named per file so the hardening suite can kill a run between any two report files.
        fault_point(f"reporting.before_replace:{target.name}")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def remove_stale_temp_files(target: Path) -> None:
    """Delete temporary files a killed writer of ``target`` left behind (never the target)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text(target: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file object whose content replaces ``target`` atomically on success."""
    with atomic_path(target) as temp, temp.open("w", encoding="utf-8", newline=newline) as handle:
        yield handle


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)
