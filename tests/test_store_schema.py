from sqlalchemy import Engine, inspect

from recon.store.db import current_revision, head_revision, open_store


def test_open_store_creates_every_table_at_head(store: Engine) -> None:
    names = set(inspect(store).get_table_names())
    assert {"items", "accounts", "sync_cursors", "bank_transactions", "runs", "ledger_snapshots",
            "ledger_entries", "matches", "discrepancies", "discrepancy_sightings"} <= names
    assert current_revision(store) == head_revision()


def test_open_store_twice_is_a_no_op(store_url: str) -> None:
    first = open_store(store_url)
    first.dispose()
    second = open_store(store_url)
    assert current_revision(second) == head_revision()
    second.dispose()
