"""Opening the state store: one engine per URL, schema upgraded by Alembic migrations.

SQLite is the default (a file under var/), PostgreSQL by URL. Engines hide bound parameters in
error texts (``hide_parameters=True``) so a token or description never reaches an exception.
"""

from __future__ import annotations

import hashlib
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from recon.errors import ConfigError, UpstreamError
from recon.safefile import open_private

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How long a SQLite writer waits for another writer's lock; tests lower it to see the error fast.
SQLITE_BUSY_TIMEOUT_ENV = "RECON_SQLITE_BUSY_TIMEOUT_MS"


def sqlite_busy_timeout_ms() -> int:
    value = os.environ.get(SQLITE_BUSY_TIMEOUT_ENV, "")
    return int(value) if value.isdigit() else SQLITE_BUSY_TIMEOUT_MS


_MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"recon:schema-migration").digest()[:8],
                                     "big", signed=True)


def _alembic_config() -> AlembicConfig:
    ini = files("recon.store").joinpath("alembic.ini")
    cfg = AlembicConfig(str(ini))
    cfg.set_main_option("script_location", str(files("recon.store").joinpath("migrations")))
    return cfg


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database URL)"


def sqlite_database_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def create_store_engine(url: str) -> Engine:
    """An engine for the state store; creates the SQLite file's folder when needed."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(["state.database_url: not a database URL"]) from None
    kwargs: dict[str, Any] = {"hide_parameters": True, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_database_path(url)
        if database is not None and not database.exists():
            # Created here, 0600 in a 0700 folder: SQLite gives its WAL and shared-memory files
            # the database file's mode, and all three hold bank data and encrypted tokens.
            os.close(open_private(database, os.O_RDWR | os.O_CREAT, setting="state.database_url",
                                  what="state database"))
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_ms() / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={sqlite_busy_timeout_ms()}")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = _alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Commands that change the schema without the run lock (items add, db upgrade)
                # queue here; alembic then reads the version only after the other one committed.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise UpstreamError(
            f"cannot upgrade the state store at {describe_url(str(engine.url))}: "
            f"{type(exc.orig).__name__}"
        ) from None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def open_store(url: str) -> Engine:
    """Create the engine and upgrade the schema: what every command that touches state calls
    (the run, the backfill and the sync take their lock first, then :func:`ensure_schema`)."""
    engine = create_store_engine(url)
    ensure_schema(engine)
    return engine


def ensure_schema(engine: Engine) -> None:
    """Upgrade the schema to the newest migration if it is behind."""
    try:
        if current_revision(engine) != head_revision():
            upgrade(engine)
    except OperationalError as exc:
        raise UpstreamError(
            f"cannot open the state store at {describe_url(str(engine.url))}: "
            f"{type(exc.orig).__name__}"
        ) from None
