"""reports review: balance snapshots, link reviews, sign-offs, what each sighting reported

Revision ID: 0003_reports_review
Revises: 0002_webhook_queue
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reports_review"
down_revision = "0002_webhook_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_balance_snapshots",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("balance_current_minor", sa.BigInteger(), nullable=True),
        sa.Column("balance_available_minor", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"],
            name=op.f("fk_account_balance_snapshots_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "fetched_at", name=op.f("pk_account_balance_snapshots")
        ),
    )
    op.create_table(
        "link_reviews",
        sa.Column("review_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("match_id", sa.String(length=40), nullable=False),
        sa.Column("bank_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("ledger_entry_id", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_link_reviews")),
    )
    op.create_index("ix_link_reviews_match_id", "link_reviews", ["match_id"], unique=False)
    op.create_table(
        "statement_signoffs",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("prepared_by", sa.String(length=100), nullable=True),
        sa.Column("prepared_on", sa.Date(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "account", name=op.f("pk_statement_signoffs")),
    )
    with op.batch_alter_table("discrepancy_sightings") as batch:
        batch.add_column(sa.Column("amount_minor", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("discrepancy_sightings") as batch:
        batch.drop_column("owner")
        batch.drop_column("status")
        batch.drop_column("amount_minor")
    op.drop_table("statement_signoffs")
    op.drop_index("ix_link_reviews_match_id", table_name="link_reviews")
    op.drop_table("link_reviews")
    op.drop_table("account_balance_snapshots")
