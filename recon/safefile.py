"""The one way recon opens a file it creates, appends to or truncates in place.

Lock file, log file, SQLite database and problem lists all go through :func:`open_private`:

- ``O_NOFOLLOW``: a symlink planted at the path is refused, never followed to its target;
- only a regular file with one link (a hard link to the database is the same file);
- never one of the ``protected`` paths (the state database), compared by inode;
- an existing non-empty file must pass the caller's ``looks_like`` check (a lock file holds a
  lock record, a log file log lines), so a path pointed at config.yaml or the database by
  mistake is refused before a byte of it changes;
- created 0600 (folders 0700) whatever the umask: these files hold bank data and tokens.

Report files and the metrics file are replaced atomically instead (a new file renamed over the
old one, :mod:`recon.reporting.atomic`), which never writes through a planted link.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from recon.errors import ConfigError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_SNIFF_BYTES = 4096


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) as 0700; an existing folder is left as it is."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask


def open_private(
    path: Path,
    flags: int,
    *,
    setting: str,
    protected: Iterable[Path] = (),
    looks_like: Callable[[bytes], bool] | None = None,
    what: str = "file",
) -> int:
    """An fd for ``path`` opened with ``flags`` (never O_TRUNC: truncate after this returns).

    Raises ConfigError naming ``setting`` (the config key that chose the path) when the path is
    a symlink, not a regular file, a protected path, or holds something ``looks_like`` rejects.
    """
    if flags & os.O_TRUNC:
        raise ValueError("open_private never truncates: check the file, then truncate")
    make_private_dir(path.parent)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(setting, path, "a symbolic link", what) from None
        raise ConfigError([f"{setting}: cannot open {path} ({exc.strerror})"]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(setting, path, "not a regular file", what)
        if info.st_nlink > 1:
            raise _refused(setting, path, "a hard link to another file", what)
        for other in protected:
            with contextlib.suppress(OSError):
                theirs = os.stat(other)
                if (theirs.st_dev, theirs.st_ino) == (info.st_dev, info.st_ino):
                    raise _refused(setting, path, f"the same file as {other}", what)
        if info.st_size and looks_like is not None:
            head = os.pread(fd, _SNIFF_BYTES, 0)
            if not looks_like(head):
                raise _refused(setting, path, f"not a recon {what} (it holds other data)", what)
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, PRIVATE_FILE_MODE)  # created under a loose umask, or by an old recon
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refused(setting: str, path: Path, reason: str, what: str) -> ConfigError:
    return ConfigError([f"{setting}: {path} is {reason}; refusing to use it as the {what}"])
