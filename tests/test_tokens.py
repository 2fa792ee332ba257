"""Access tokens: AES-GCM bound to the item, key rotation, token rotation against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from recon.config import Config
from recon.errors import ConfigError
from recon.plaid.client import PlaidCallError, PlaidGateway
from recon.plaid.emulator import Emulator
from recon.plaid.items import add_item_from_public_token, add_sandbox_item
from recon.plaid.sync import sync_item
from recon.plaid.tokens import (
    TokenError,
    TokenLostError,
    TokenVault,
    generate_key,
    load_access_token,
    rotate_due_tokens,
    rotate_keys,
)
from recon.store import bank as bank_store
from recon.store.schema import items

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def vault_of(*keys: str) -> TokenVault:
    return TokenVault.from_env("TEST_TOKEN_KEY", {"TEST_TOKEN_KEY": ",".join(keys)})


def test_round_trip_and_blob_layout() -> None:
    vault = vault_of(generate_key())
    token = "access-sandbox-4f1c7a9e-0000-4000-8000-000000000001"
    blob = vault.encrypt("item-a", token)
    assert blob[:8].decode() == vault.current_key_id and len(vault.current_key_id) == 8
    assert token.encode() not in blob
    assert vault.decrypt("item-a", blob) == token
    assert vault.encrypt("item-a", token) != blob  # random nonce


def test_ciphertext_swapped_onto_another_item_is_refused() -> None:
    vault = vault_of(generate_key())
    blob = vault.encrypt("item-a", "access-sandbox-aaaa-bbbb")
    with pytest.raises(TokenError, match=r"item-b.*does not decrypt for this item"):
        vault.decrypt("item-b", blob)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TokenError):
        vault.decrypt("item-a", tampered)


def test_key_rotation_old_and_new_then_new_only(store: Engine) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_vault = vault_of(old_key)
    with store.begin() as conn:
        for item_id in ("item-a", "item-b"):
            bank_store.upsert_item(conn, item_id=item_id, institution_id="ins",
                                   institution_name=None, now=NOW)
            conn.execute(items.update().where(items.c.item_id == item_id).values(
                access_token_ciphertext=old_vault.encrypt(item_id, f"access-sandbox-{item_id}"),
                token_key_id=old_vault.current_key_id, token_created_at=NOW))
    both = vault_of(new_key, old_key)
    with store.connect() as conn:  # during the rotation both keys read
        assert load_access_token(conn, both, "item-a") == "access-sandbox-item-a"
    assert rotate_keys(store, both) == 2
    assert rotate_keys(store, both) == 0  # idempotent
    new_only = vault_of(new_key)
    with store.connect() as conn:
        assert load_access_token(conn, new_only, "item-b") == "access-sandbox-item-b"
        assert {r.token_key_id for r in conn.execute(select(items))} == {new_only.current_key_id}
        ages = {bank_store.as_utc(r.token_created_at) for r in conn.execute(select(items))}
    assert ages == {NOW}  # re-encryption does not make a token young
    with store.connect() as conn, pytest.raises(ConfigError, match="not among the configured"):
        load_access_token(conn, old_vault, "item-a")


def test_missing_or_bad_key_env_is_a_config_error_without_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MY_KEY: not set") as missing:
        TokenVault.from_env("MY_KEY", {})
    assert "MY_KEY_FILE" in str(missing.value)
    bad_value = "definitely-not-a-key-value-9e8d"
    with pytest.raises(ConfigError, match="MY_KEY: key #2") as bad:
        TokenVault.from_env("MY_KEY", {"MY_KEY": f"{generate_key()},{bad_value}"})
    assert bad_value not in str(bad.value)
    short = "c2hvcnQta2V5"  # base64 of 9 bytes
    with pytest.raises(ConfigError, match="not 32 bytes") as wrong_size:
        TokenVault.from_env("MY_KEY", {"MY_KEY": short})
    assert short not in str(wrong_size.value)
    key_file = tmp_path / "key"
    key = generate_key()
    key_file.write_text(key + "\n")
    from_file = TokenVault.from_env("MY_KEY", {"MY_KEY_FILE": str(key_file)})
    assert from_file.current_key_id == vault_of(key).current_key_id
    with pytest.raises(ConfigError, match="MY_KEY_FILE: cannot read"):
        TokenVault.from_env("MY_KEY", {"MY_KEY_FILE": str(tmp_path / "missing")})
    assert key not in repr(from_file)


# --- against the emulator -------------------------------------------------------------------


def stored_token(engine: Engine, vault: TokenVault) -> str:
    with engine.connect() as conn:
        return load_access_token(conn, vault, "item-a")


def test_rotate_due_tokens_kills_the_old_token_and_the_new_one_works(
    store: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    add_sandbox_item(store, gateway, vault, "ins_a", now=NOW)
    old = stored_token(store, vault)
    assert rotate_due_tokens(store, gateway, vault, max_age=timedelta(hours=24),
                             now=NOW + timedelta(hours=1)) == []  # not due yet
    later = NOW + timedelta(days=2)
    assert rotate_due_tokens(store, gateway, vault, max_age=timedelta(hours=24),
                             now=later) == ["item-a"]
    new = stored_token(store, vault)
    assert new != old and emulator.valid_access_tokens("item-a") == [new]
    with pytest.raises(PlaidCallError) as rejected:
        gateway.accounts_get(old)
    assert rejected.value.error_code == "INVALID_ACCESS_TOKEN"
    assert sync_item(store, gateway, vault, "item-a", config, now=later).status == "ok"
    with store.connect() as conn:
        row = bank_store.get_item(conn, "item-a")
    assert row is not None and bank_store.as_utc(row.token_created_at) == later


def test_failed_write_after_invalidate_marks_token_lost_and_relinking_restores_sync(
    store: Engine, emulator: Emulator, gateway: PlaidGateway, vault: TokenVault, config: Config
) -> None:
    add_sandbox_item(store, gateway, vault, "ins_a", now=NOW)
    old = stored_token(store, vault)

    def refuse_token_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "access_token_ciphertext" in statement and statement.lstrip().upper().startswith(
                "UPDATE"):
            raise RuntimeError("disk full")

    event.listen(store, "before_cursor_execute", refuse_token_writes)
    try:
        with pytest.raises(TokenLostError, match=r"recon items add --public-token .* --item "
                                                 r"item-a") as lost:
            rotate_due_tokens(store, gateway, vault, max_age=timedelta(hours=1),
                              now=NOW + timedelta(days=1))
    finally:
        event.remove(store, "before_cursor_execute", refuse_token_writes)
    assert old not in str(lost.value)
    assert old not in emulator.valid_access_tokens("item-a")  # Plaid already killed it
    with store.connect() as conn:
        row = bank_store.get_item(conn, "item-a")
    assert row is not None and row.status == "token_lost"
    assert sync_item(store, gateway, vault, "item-a", config, now=NOW).status == "needs_relink"
    # The documented recovery: re-link the same item in Link and store its new token. The
    # emulator hands out an update-mode public token for an item that needs a login.
    emulator.set_login_required("item-a")
    public_token = gateway.sandbox_public_token_create("ins_a")
    assert add_item_from_public_token(store, gateway, vault, public_token, now=NOW,
                                      item_id="item-a") == "item-a"
    outcome = sync_item(store, gateway, vault, "item-a", config, now=NOW)
    assert outcome.status == "ok" and outcome.added == 1


def test_database_dump_contains_no_plaintext_token(
    tmp_path: Path, gateway: PlaidGateway, vault: TokenVault, emulator: Emulator, config: Config
) -> None:
    from recon.store.db import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'dump.db'}")
    add_sandbox_item(engine, gateway, vault, "ins_a", now=NOW)
    sync_item(engine, gateway, vault, "item-a", config, now=NOW)
    rotate_due_tokens(engine, gateway, vault, max_age=timedelta(0), now=NOW + timedelta(days=1))
    tokens = emulator.valid_access_tokens("item-a")
    assert tokens
    raw = engine.raw_connection()
    try:
        dump = "\n".join(raw.driver_connection.iterdump())  # type: ignore[union-attr]
    finally:
        raw.close()
    engine.dispose()
    file_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("dump.db*"))
    for token in tokens:
        assert token not in dump and token.encode() not in file_bytes
    assert "access-sandbox-" not in dump and b"access-sandbox-" not in file_bytes
    assert "item-a" in dump  # the dump really has the data


def test_store_rows_contain_no_plaintext_token(
    store: Engine, gateway: PlaidGateway, vault: TokenVault, emulator: Emulator, config: Config
) -> None:
    add_sandbox_item(store, gateway, vault, "ins_a", now=NOW)
    sync_item(store, gateway, vault, "item-a", config, now=NOW)
    token = emulator.valid_access_tokens("item-a")[0]
    with store.connect() as conn:
        tables = ("items", "accounts", "sync_cursors", "bank_transactions")
        dump = "\n".join(  # every column of every row, bytes shown by repr
            repr(tuple(row))
            for name in tables
            for row in conn.execute(text(f"SELECT * FROM {name}"))
        )
        blobs = b"".join(bytes(b) for b in conn.execute(
            select(items.c.access_token_ciphertext)).scalars())
    assert token not in dump and token.encode() not in blobs and "access-sandbox-" not in dump
    assert "item-a" in dump
