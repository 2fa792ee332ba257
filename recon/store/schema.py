"""The state store's tables (SQLAlchemy Core). Alembic migrations under migrations/ create them.

Money is BIGINT minor units everywhere, with the currency beside it: exact on SQLite and
PostgreSQL alike (SQLite has no exact NUMERIC). Nothing is deleted: removed bank transactions
are tombstoned (``removed_at``), resolved discrepancies keep their history.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("institution_id", String(64), nullable=True),
    Column("institution_name", String(200), nullable=True),
    # active | needs_relink | token_lost | removed
    Column("status", String(20), nullable=False, default="active"),
    # AES-GCM ciphertext of the access token, bound to item_id (associated data). Never plaintext.
    Column("access_token_ciphertext", LargeBinary, nullable=True),
    Column("token_key_id", String(32), nullable=True),
    Column("token_created_at", DateTime(timezone=True), nullable=True),
    Column("last_sync_at", DateTime(timezone=True), nullable=True),
    Column("last_sync_error", String(64), nullable=True),  # a Plaid error_code, never a message
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # When the item stops working unless re-linked (PENDING_EXPIRATION / PENDING_DISCONNECT)
    Column("consent_expires_at", DateTime(timezone=True), nullable=True),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("item_id", String(64), ForeignKey("items.item_id"), nullable=False, index=True),
    Column("name", String(200), nullable=True),
    Column("mask", String(8), nullable=True),
    Column("type", String(40), nullable=True),
    Column("subtype", String(40), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("balance_current_minor", BigInteger, nullable=True),
    Column("balance_available_minor", BigInteger, nullable=True),
    Column("balance_as_of", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every balance Plaid reported, kept: the statement backs a snapshot out to its as-of date, and
# a re-run of an old date can still say which balance it started from.
account_balance_snapshots = Table(
    "account_balance_snapshots",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.account_id"), primary_key=True),
    Column("fetched_at", DateTime(timezone=True), primary_key=True),
    Column("currency", String(3), nullable=True),
    Column("balance_current_minor", BigInteger, nullable=True),  # posted only, house sign
    Column("balance_available_minor", BigInteger, nullable=True),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("item_id", String(64), ForeignKey("items.item_id"), primary_key=True),
    # "" for the item-wide stream, else the account_id of a per-account stream
    Column("stream", String(64), primary_key=True, default=""),
    Column("cursor", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

bank_transactions = Table(
    "bank_transactions",
    metadata,
    Column("transaction_id", String(64), primary_key=True),
    Column("item_id", String(64), ForeignKey("items.item_id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # house sign: + is money in
    Column("currency", String(3), nullable=False),
    Column("date", Date, nullable=False),
    Column("authorized_date", Date, nullable=True),
    Column("name", Text, nullable=False),
    Column("merchant_name", Text, nullable=True),
    Column("reference", String(200), nullable=True),
    Column("check_number", String(32), nullable=True),  # Plaid's check_number (0005)
    Column("pending", Boolean, nullable=False),
    Column("pending_transaction_id", String(64), nullable=True),
    Column("removed_at", DateTime(timezone=True), nullable=True),  # tombstone
    Column("raw_json", Text, nullable=False),  # the Plaid object as received, for audit
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_bank_transactions_account_date", "account_id", "date"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),  # run | backfill | sync | match
    Column("as_of", Date, nullable=True),
    Column("window_start", Date, nullable=True),
    Column("window_end", Date, nullable=True),
    # started -> syncing -> loading -> matching -> saving -> reporting -> succeeded
    # any state -> failed (caught) | crashed (found dead by a later run)
    Column("state", String(20), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("hostname", String(200), nullable=True),
    Column("timings_json", Text, nullable=False, default="{}"),
    Column("counts_json", Text, nullable=False, default="{}"),
    Column("config_hash", String(32), nullable=False),
    Column("code_version", String(40), nullable=False),
    Column("error", Text, nullable=True),  # redacted error class and message
    Column("exit_code", Integer, nullable=True),
)

ledger_snapshots = Table(
    "ledger_snapshots",
    metadata,
    Column("snapshot_id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.run_id"), nullable=False, index=True),
    Column("source", Text, nullable=False),  # path or table, never a URL with credentials
    Column("content_hash", String(64), nullable=False),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("rejected_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("snapshot_id", String(36), ForeignKey("ledger_snapshots.snapshot_id"),
           primary_key=True),
    Column("entry_id", String(200), primary_key=True),
    Column("account", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("date", Date, nullable=False),
    Column("description", Text, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("counterparty", String(200), nullable=False),
    Column("row_hash", String(32), nullable=False),
)

# The latest reconciliation of each as-of date: replaced as a whole when the date is re-run.
matches = Table(
    "matches",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("match_id", String(40), primary_key=True),
    Column("bank_transaction_id", String(64), primary_key=True),
    Column("ledger_entry_id", String(200), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.run_id"), nullable=False),
    Column("status", String(30), nullable=False),
    Column("rule", String(60), nullable=False),
    Column("score", Float, nullable=False),  # a similarity score, not money
    Column("amount_difference_minor", BigInteger, nullable=False),
    Column("date_difference_days", Integer, nullable=False),
    Column("account", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("explanation", Text, nullable=False),
)

# One row per discrepancy ever seen, carried forward night to night.
discrepancies = Table(
    "discrepancies",
    metadata,
    Column("discrepancy_id", String(40), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("side", String(10), nullable=False),
    Column("bank_transaction_id", String(64), nullable=False),
    Column("ledger_entry_id", String(200), nullable=False),
    Column("account", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("date", Date, nullable=True),
    Column("description", Text, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("nearest_candidate", String(200), nullable=False),
    Column("first_seen", Date, nullable=False),  # as-of date of the first run that saw it
    Column("last_seen", Date, nullable=False),
    Column("first_run_id", String(36), nullable=False),
    Column("last_run_id", String(36), nullable=False),
    Column("resolved_run_id", String(36), nullable=True),
    Column("resolved_on", Date, nullable=True),
    # open | resolved | explained | written_off
    Column("status", String(20), nullable=False),
    Column("owner", String(100), nullable=True),
    Column("notes", Text, nullable=True),
    Index("ix_discrepancies_status", "status"),
)

# Which discrepancies were open in which as-of reconciliation (for "changes since last run"),
# with the amount and the analysts' status and owner as that run reported them.
discrepancy_sightings = Table(
    "discrepancy_sightings",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("discrepancy_id", String(40), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("amount_minor", BigInteger, nullable=True),
    Column("status", String(20), nullable=True),
    Column("owner", String(100), nullable=True),
)

# An analyst's decision on a suggested link, one row per link of the group (imported from the
# workbook). The latest decision for a match_id is applied by every later run: accepted makes
# the suggestion a confirmed match, rejected keeps the same group from being offered again.
link_reviews = Table(
    "link_reviews",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("match_id", String(40), nullable=False),
    Column("bank_transaction_id", String(64), nullable=False),
    Column("ledger_entry_id", String(200), nullable=False),
    Column("decision", String(10), nullable=False),  # accepted | rejected
    Column("reviewer", String(100), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("run_id", String(36), nullable=False),  # the run whose workbook held the decision
    Column("as_of", Date, nullable=False),
    Index("ix_link_reviews_match_id", "match_id"),
)

# Who prepared and who reviewed each account's statement of an as-of date (from the workbook).
statement_signoffs = Table(
    "statement_signoffs",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("account", String(100), primary_key=True),
    Column("prepared_by", String(100), nullable=True),
    Column("prepared_on", Date, nullable=True),
    Column("reviewed_by", String(100), nullable=True),
    Column("reviewed_on", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The durable sync queue fed by verified SYNC_UPDATES_AVAILABLE webhooks: at most one job per item
# (many webhooks for an item fold into its job). A finished job is deleted; the webhook_events
# rows keep the history.
sync_jobs = Table(
    "sync_jobs",
    metadata,
    Column("item_id", String(64), ForeignKey("items.item_id"), primary_key=True),
    Column("state", String(10), nullable=False),  # queued | running
    Column("requests", Integer, nullable=False),  # webhooks folded into this job
    Column("attempts", Integer, nullable=False),  # syncs started (a crash counts as one)
    Column("rerun", Boolean, nullable=False),  # a webhook arrived while the job was running
    Column("not_before", DateTime(timezone=True), nullable=False),  # backoff after a failure
    Column("first_requested_at", DateTime(timezone=True), nullable=False),
    Column("last_requested_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(64), nullable=True),  # an error code, never a message
)

# Jobs that failed max_attempts times: shown by `recon items list` and the report until a later
# sync of the item succeeds (resolved_at).
sync_dead_letters = Table(
    "sync_dead_letters",
    metadata,
    Column("dead_letter_id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(64), ForeignKey("items.item_id"), nullable=False, index=True),
    Column("requests", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(64), nullable=False),
    Column("first_requested_at", DateTime(timezone=True), nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

# Every verified webhook, once: the JWT's hash is unique, so a replayed request is refused.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("jwt_sha256", String(64), nullable=False, unique=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(100), nullable=False),
    Column("webhook_type", String(40), nullable=False),
    Column("webhook_code", String(60), nullable=False),
    Column("item_id", String(64), nullable=True),  # not a foreign key: unknown items are logged
    # queued | folded | item_updated | unknown_item | ignored
    Column("outcome", String(20), nullable=False),
)

# A partitioned run's results, one row per partition, committed by the worker that reconciled it
# (Arrow IPC bytes of the engine's three frames). Keyed by a hash of the partition's input rows,
# configuration and as-of date: a re-run of the same night finds the partitions an interrupted
# run committed and reconciles only the others. Work rows, not history: the run that saves the
# night's results removes that night's rows in the same transaction.
partition_results = Table(
    "partition_results",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("as_of", Date, nullable=False, index=True),
    Column("partition", String(300), nullable=False),  # "account/currency", for people
    Column("links", LargeBinary, nullable=False),
    Column("discrepancies", LargeBinary, nullable=False),
    Column("alternatives", LargeBinary, nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
)

# What confirmed links taught, as a history of verdicts per bank transaction: a row when the
# night of ``as_of`` found its verdict changed, i.e. the bank descriptor
# (recon.engine.payees.descriptor_key) of its auto-confirmed or analyst-confirmed one-to-one link
# and the ledger counterparty, or NULLs when it no longer teaches (the link was rejected). The
# night of D reads the latest verdict before D per transaction (recon.store.payees), so a re-run
# of a night sees what the first run saw.
payee_memory = Table(
    "payee_memory",
    metadata,
    Column("bank_transaction_id", String(64), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("descriptor", String(200), nullable=True),  # NULL: no longer teaches
    Column("counterparty", String(200), nullable=True),
    Column("ledger_entry_id", String(200), nullable=True),
    Column("source", String(10), nullable=True),  # auto | analyst
    Column("run_id", String(36), nullable=False),
)
