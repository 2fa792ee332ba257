"""Plaid access tokens: encrypted at rest, bound to their item, rotated on a schedule.

Encryption is AES-256-GCM (``cryptography``'s AESGCM) with a random 12-byte nonce and the
item_id as associated data, so a ciphertext copied onto another item's row does not decrypt: a
token is never used for the wrong bank. The stored blob is::

    key id (8 ASCII hex chars = first 8 hex of sha256(key)) | nonce (12 bytes) | ciphertext+tag

Keys come from the environment (``RECON_TOKEN_KEY`` by default: comma-separated urlsafe-base64
32-byte keys, newest first) or from a file named by ``<NAME>_FILE``. Encryption always uses the
newest key; decryption picks the key whose id the blob carries, so old and new keys are both
readable while :func:`rotate_keys` re-encrypts every row under the newest one.

Access-token rotation (:func:`rotate_due_tokens`) is the one dangerous operation here: Plaid kills
the old token the moment it answers ``/item/access_token/invalidate``, and nothing can fetch the
new one again. So the call is never retried automatically and the new ciphertext is committed in
its own transaction before anything uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from recon.errors import ConfigError, ReconError
from recon.faults import fault_point
from recon.logs import Redactor
from recon.plaid.client import PlaidCallError, PlaidGateway
from recon.store import bank as bank_store
from recon.store.schema import items

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_ID_CHARS = 8
NONCE_BYTES = 12
_AAD_PREFIX = b"recon/plaid-access-token/v1:"

# Errors after which a token is dead: the item must be linked again.
DEAD_TOKEN_CODES = frozenset({"INVALID_ACCESS_TOKEN", "ITEM_NOT_FOUND"})


class TokenError(ReconError):
    """An access token that cannot be used (missing, undecryptable, bound to another item)."""


class MissingKeyError(ConfigError):
    """A stored token was encrypted under a key the environment no longer provides: the
    configuration is wrong (exit 78), not Plaid (so no item is marked failed)."""


class TokenLostError(TokenError):
    """Plaid invalidated the old token but the new one could not be stored."""


def relink_instructions(item_id: str) -> str:
    return (
        f"item {item_id}: its access token is lost; re-link it in Plaid Link update mode and run "
        f"`recon items add --public-token PUBLIC_TOKEN --item {item_id}`"
    )


def generate_key() -> str:
    """A new random 32-byte key, urlsafe base64 (put it first in the key list)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id_for(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:KEY_ID_CHARS]


def read_key_list(
    env_name: str, environ: Mapping[str, str] = os.environ
) -> tuple[list[bytes], str]:
    """32-byte keys, newest first, from ``env_name`` (comma-separated urlsafe base64) or from the
    file named by ``<env_name>_FILE``, and the name of the variable they came from; ConfigError
    naming the variable (never its value) when missing or invalid. The values are registered
    with the log redactor."""
    file_env = f"{env_name}_FILE"
    raw = environ.get(env_name, "").strip()
    source = env_name
    if not raw and environ.get(file_env, "").strip():
        source = file_env
        try:
            raw = Path(environ[file_env].strip()).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError([f"{file_env}: cannot read the key file ({reason})"]) from None
    if not raw:
        raise ConfigError(
            [f"{env_name}: not set (nor {file_env}); generate a key with "
             f"`recon keys generate` and put it there"]
        )
    texts = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
    keys: list[bytes] = []
    problems: list[str] = []
    for position, text in enumerate(texts, start=1):
        try:
            key = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            problems.append(f"{source}: key #{position} is not urlsafe base64")
            continue
        if len(key) != KEY_BYTES:
            problems.append(f"{source}: key #{position} is not {KEY_BYTES} bytes")
            continue
        keys.append(key)
    if problems or not keys:
        raise ConfigError(problems or [f"{source}: no keys"])
    Redactor.register_secret_env(env_name)
    Redactor.register_secret_value(*texts)
    return keys, source


class TokenVault:
    """Encrypts and decrypts access tokens with a list of keys, newest first."""

    def __init__(self, keys: Sequence[bytes], *, source: str = "the token key") -> None:
        if not keys:
            raise ValueError("TokenVault needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        self._source = source
        self._newest = key_id_for(keys[0])
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"token keys must be {KEY_BYTES} bytes")
            self._keys.setdefault(key_id_for(key), AESGCM(key))

    def __repr__(self) -> str:  # never the keys
        return f"TokenVault(key_ids={list(self._keys)})"

    @classmethod
    def from_env(cls, env_name: str, environ: Mapping[str, str] = os.environ) -> TokenVault:
        """Keys from ``env_name`` or from the file named by ``<env_name>_FILE``.

        Raises ConfigError naming the variable (never its value) when missing or invalid.
        """
        keys, source = read_key_list(env_name, environ)
        return cls(keys, source=source)

    @property
    def current_key_id(self) -> str:
        return self._newest

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return blob[:KEY_ID_CHARS].decode("ascii", errors="replace")

    def encrypt(self, item_id: str, token: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._newest].encrypt(nonce, token.encode("utf-8"), _aad(item_id))
        return self._newest.encode("ascii") + nonce + sealed

    def decrypt(self, item_id: str, blob: bytes) -> str:
        """The token, registered with the log redactor; TokenError if it is not this item's."""
        key_id = self.key_id_of(blob)
        aead = self._keys.get(key_id)
        if aead is None:
            raise MissingKeyError([
                f"{self._source}: item {item_id}'s access token is encrypted with key id "
                f"{key_id}, which is not among the configured keys ({', '.join(self._keys)}); "
                "put that key back in the list (newest first), then `recon keys rotate`"
            ])
        nonce = blob[KEY_ID_CHARS : KEY_ID_CHARS + NONCE_BYTES]
        try:
            plain = aead.decrypt(nonce, blob[KEY_ID_CHARS + NONCE_BYTES :], _aad(item_id))
        except InvalidTag:
            raise TokenError(
                f"item {item_id}: stored access token does not decrypt for this item (tampered, "
                f"corrupted or copied from another item); it was not used"
            ) from None
        token = plain.decode("utf-8")
        Redactor.register_secret_value(token)
        return token


def _aad(item_id: str) -> bytes:
    return _AAD_PREFIX + item_id.encode("utf-8")


# --- stored tokens ---------------------------------------------------------------------------


def store_access_token(
    conn: Connection, vault: TokenVault, item_id: str, token: str, *, now: datetime
) -> None:
    """Encrypt and store a fresh token (its age starts now). The item row must exist."""
    Redactor.register_secret_value(token)
    stored = bank_store.set_item_token(
        conn, item_id, ciphertext=vault.encrypt(item_id, token), key_id=vault.current_key_id,
        created_at=now, now=now,
    )
    if not stored:
        raise TokenError(f"item {item_id}: no such item to store its access token on")


def load_access_token(conn: Connection, vault: TokenVault, item_id: str) -> str:
    blob = conn.execute(
        select(items.c.access_token_ciphertext).where(items.c.item_id == item_id)
    ).scalar()
    if blob is None:
        raise TokenError(f"item {item_id}: no access token stored; link the item first")
    return vault.decrypt(item_id, bytes(blob))


def rotate_keys(engine: Engine, vault: TokenVault) -> int:
    """Re-encrypt every stored token under the vault's newest key; returns how many changed.

    Configure the new key first in the list and keep the old ones until this returns. Each row
    is committed on its own and only if nobody changed it meanwhile, so an interrupted rotation
    can simply be run again.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(items.c.item_id, items.c.access_token_ciphertext).where(
                items.c.access_token_ciphertext.is_not(None)
            )
        ).all()
    changed = 0
    for item_id, blob in rows:
        old = bytes(blob)
        if vault.key_id_of(old) == vault.current_key_id:
            continue
        token = vault.decrypt(item_id, old)
        with engine.begin() as conn:
            if bank_store.set_item_token(
                conn, item_id, ciphertext=vault.encrypt(item_id, token),
                key_id=vault.current_key_id, created_at=None, now=_utcnow(),
                expected_ciphertext=old,
            ):
                changed += 1
    log.info("token keys rotated", extra={"rows": changed})
    return changed


def _utcnow() -> datetime:
    return datetime.now(UTC)


def rotate_due_tokens(
    engine: Engine,
    gateway: PlaidGateway,
    vault: TokenVault,
    *,
    max_age: timedelta,
    now: datetime,
) -> list[str]:
    """Rotate (``/item/access_token/invalidate``) every active item's token older than max_age.

    Returns the item ids rotated. For each item: decrypt the old token, call invalidate once (no
    automatic retry: a second call would use a token Plaid may already have killed), then commit
    the new ciphertext in its own transaction before anything else happens.

    Recovery when that write fails (the database went away between Plaid's answer and our
    commit): the old token is already dead at Plaid and the new one exists only in this
    process's memory, which is deliberately not written anywhere else. The item is marked
    ``token_lost`` (if the database still takes that write) and :class:`TokenLostError` is
    raised, which stops the rotation so no further tokens are put at risk. The operator re-links
    the item in Plaid Link update mode and stores the new token with
    ``recon items add --public-token PUBLIC_TOKEN --item ITEM_ID``
    (:func:`recon.plaid.items.add_item_from_public_token` with ``item_id=``); the item keeps its
    id, cursor and history, so the next sync carries on where it stopped. Where Plaid cannot
    open update mode without a live token, link the bank as a new item (the same command
    without ``--item``); the old item stays ``token_lost`` with its history for audit.

    When invalidate itself fails with a transient error (timeout, 5xx) we cannot know whether
    Plaid rotated: the stored old token is probed once with ``/item/get``; if Plaid rejects it,
    the item is marked ``token_lost`` and the same re-link applies.
    """
    cutoff = now - max_age
    with engine.connect() as conn:
        rows = conn.execute(
            select(items.c.item_id, items.c.token_created_at).where(
                items.c.access_token_ciphertext.is_not(None), items.c.status == "active"
            ).order_by(items.c.item_id)
        ).all()
    due = [item_id for item_id, created in rows
           if created is None or (bank_store.as_utc(created) or now) <= cutoff]
    rotated: list[str] = []
    for item_id in due:
        with engine.connect() as conn:
            old_token = load_access_token(conn, vault, item_id)
        try:
            new_token = gateway.invalidate_access_token(old_token)
        except PlaidCallError as exc:
            if exc.error_code in DEAD_TOKEN_CODES:
                _mark(engine, item_id, "needs_relink", exc.error_code, now)
                log.warning("token rotation: token rejected", extra={
                    "item_id": item_id, "error_code": exc.error_code})
                continue
            if exc.retryable and not _old_token_still_works(gateway, old_token):
                _mark(engine, item_id, "token_lost", "TOKEN_LOST", now)
                raise TokenLostError(relink_instructions(item_id)) from None
            log.warning("token rotation skipped: invalidate failed, old token kept",
                        extra={"item_id": item_id, "error_code": exc.error_code})
            continue
        Redactor.register_secret_value(new_token)
        fault_point("tokens.after_invalidate")
        try:
            with engine.begin() as conn:
                store_access_token(conn, vault, item_id, new_token, now=now)
        except Exception:  # whatever failed, the new token is not durable: it is lost
            _mark(engine, item_id, "token_lost", "TOKEN_LOST", now)
            log.error("token rotation: new token could not be stored", extra={"item_id": item_id})
            raise TokenLostError(relink_instructions(item_id)) from None
        rotated.append(item_id)
        log.info("access token rotated", extra={"item_id": item_id})
    return rotated


def _old_token_still_works(gateway: PlaidGateway, old_token: str) -> bool:
    try:
        gateway.item_get(old_token)
    except PlaidCallError as exc:
        return exc.error_code not in DEAD_TOKEN_CODES
    return True


def _mark(engine: Engine, item_id: str, status: str, error_code: str, now: datetime) -> None:
    """Best effort: the database may be the thing that is failing."""
    try:
        with engine.begin() as conn:
            bank_store.set_item_status(conn, item_id, status, now=now, error_code=error_code)
    except SQLAlchemyError:
        log.error("could not mark item status", extra={"item_id": item_id, "status": status})
