"""Logging: one setup for the CLI and jobs, key=value or JSON lines with the run id, redacted.

Redaction runs on the *final formatted text* of every handler, so it also catches secrets that
arrive through ``%r`` of an object, an exception traceback or a third-party logger. It masks:
Plaid access/public/link tokens, the values of the secret environment variables recon knows
about (Plaid secret and client id, token key, webhook URL, SMTP password) and card-number-like
digit runs (13-19 digits, spaces or dashes allowed), keeping the last four digits.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from io import TextIOWrapper
from pathlib import Path
from typing import Any, ClassVar, TextIO

from recon.safefile import open_private

_TOKEN = re.compile(
    r"\b(access|public|link|processor)-(sandbox|production|development)-[0-9a-f-]{8,}", re.I
)
# 13..19 digits, optionally separated by single spaces or dashes: card-number-like (PAN) runs.
# A UUID (a run id, an item id) is matched first and kept whole: its digit groups are no card.
_PAN = re.compile(
    r"(?P<uuid>(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
    r"[0-9A-Fa-f]{12}(?![0-9A-Za-z]))"
    r"|(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")

# Environment variables whose values are secrets wherever recon runs. Config may name more
# (see register_secret_env); their values are added when the config is loaded.
DEFAULT_SECRET_ENVS = ("PLAID_SECRET", "PLAID_CLIENT_ID", "RECON_TOKEN_KEY")


class Redactor:
    """Masks known secret values, Plaid tokens and card numbers in text."""

    _secret_envs: ClassVar[set[str]] = set(DEFAULT_SECRET_ENVS)
    _extra_values: ClassVar[set[str]] = set()

    @classmethod
    def register_secret_env(cls, *names: str) -> None:
        cls._secret_envs.update(n for n in names if n)

    @classmethod
    def register_secret_value(cls, *values: str) -> None:
        """For secrets that do not come from the environment (e.g. a decrypted access token)."""
        cls._extra_values.update(v for v in values if v and len(v) >= 6)

    @classmethod
    def _secret_values(cls) -> Iterable[str]:
        for name in cls._secret_envs:
            value = os.environ.get(name, "")
            if len(value) >= 6:
                yield value
                # A key list: each key alone is a secret too.
                yield from (part for part in value.split(",") if len(part) >= 6)
        yield from cls._extra_values

    @classmethod
    def redact(cls, text: str) -> str:
        for value in sorted(set(cls._secret_values()), key=len, reverse=True):
            if value in text:
                text = text.replace(value, "[REDACTED]")
        text = _TOKEN.sub(lambda m: f"{m.group(1)}-{m.group(2)}-[REDACTED]", text)
        return _PAN.sub(_mask_pan, text)


def _mask_pan(match: re.Match[str]) -> str:
    if match.group("uuid") is not None:
        return match.group(0)
    digits = re.sub(r"[^0-9]", "", match.group(0))
    if not luhn_valid(digits):
        return match.group(0)  # a reference or an amount, not a card number
    return "*" * (len(digits) - 4) + digits[-4:]


def luhn_valid(digits: str) -> bool:
    """The card-number check digit (ISO/IEC 7812): every card number passes, 9 in 10 others fail."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# 13 consecutive characters from "0123456789 -" are what any card-number run holds. Mapping
# those 12 bytes to "0" and looking for 13 zeros rules a large text out at C speed.
_CARD_CHARACTERS_TO_ZERO = bytes.maketrans(b"0123456789 -", b"0" * 12)


def card_characters(text: str) -> bytes:
    """``text`` as UTF-8 with each of "0123456789 -" turned into "0" (other characters' bytes are
    all >= 0x80 or other ASCII, so they never become "0")."""
    return text.encode("utf-8", "surrogatepass").translate(_CARD_CHARACTERS_TO_ZERO)


def may_hold_card_number(text: str) -> bool:
    """False when ``text`` certainly holds no card number (a fast pre-check for large texts)."""
    return b"0" * 13 in card_characters(text)


def mask_card_numbers(text: str) -> str:
    """Card numbers (Luhn-valid 13-19 digit runs) to ``************1234`` (stored text too)."""
    return _PAN.sub(_mask_pan, text)


def neutralise_log_text(text: str) -> str:
    """One record is one line: control characters (newlines, ANSI escapes) become visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


class _RunIdFilter(logging.Filter):
    run_id: str = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = self.run_id
        return True


_run_id_filter = _RunIdFilter()


def set_run_id(run_id: str) -> None:
    _run_id_filter.run_id = run_id


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=INFO logger=recon.sync run_id=... msg="..." key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        message = neutralise_log_text(record.getMessage())
        parts = [
            f"ts={ts}",
            f"level={record.levelname}",
            f"logger={record.name}",
            f"run_id={getattr(record, 'run_id', '-')}",
            f"msg={json.dumps(message)}",
        ]
        for key, value in sorted(_extra_fields(record).items()):
            parts.append(f"{key}={json.dumps(value, default=str)}")
        if record.exc_info:
            parts.append(f"exc={json.dumps(self.formatException(record.exc_info))}")
        return Redactor.redact(" ".join(parts))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", "-"),
            "msg": record.getMessage(),
            **_extra_fields(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return Redactor.redact(json.dumps(payload, default=str))


_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "run_id",
    "taskName",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class RedactingStreamHandler(logging.StreamHandler[TextIO]):
    """Redacts again at emit time, in case a formatter that is not ours is installed."""

    def format(self, record: logging.LogRecord) -> str:
        return Redactor.redact(super().format(record))


def _is_log_text(head: bytes) -> bool:
    """What a recon log file starts with: a key=value or a JSON record of ours."""
    return head.startswith((b"ts=", b'{"ts": '))


class RedactingFileHandler(logging.FileHandler):
    """Appends through :func:`recon.safefile.open_private`: 0600, no symlink, never the database
    or a file that is not a recon log."""

    def __init__(self, filename: Path, *, protected: Sequence[Path] = ()) -> None:
        self._protected = tuple(protected)
        super().__init__(filename, mode="a", encoding="utf-8", delay=True)
        self.stream = self._open()  # open now, so a refused path fails at setup, not mid-run

    def _open(self) -> TextIOWrapper:
        fd = open_private(Path(self.baseFilename), os.O_RDWR | os.O_APPEND | os.O_CREAT,
                          setting="state.log_file", protected=self._protected,
                          looks_like=_is_log_text, what="log file")
        return open(fd, "a", encoding="utf-8")

    def format(self, record: logging.LogRecord) -> str:
        return Redactor.redact(super().format(record))


def setup_logging(
    *,
    level: str = "INFO",
    json_lines: bool = False,
    log_file: Path | None = None,
    stream: TextIO | None = None,
    protected: Sequence[Path] = (),
) -> None:
    """Configure the root logger once: stderr (and optionally a file), redacted, with run id.

    ``protected``: paths the log file must never be (the state database).
    """
    file_handler = None if log_file is None else RedactingFileHandler(log_file, protected=protected)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = JsonFormatter() if json_lines else KeyValueFormatter()
    handlers: list[logging.Handler] = [RedactingStreamHandler(stream or sys.stderr)]
    if file_handler is not None:
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_run_id_filter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter that could echo request bodies stays at WARNING.
    for noisy in ("urllib3", "sqlalchemy", "alembic", "apscheduler", "plaid"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
