"""payee memory: what confirmed links taught (bank descriptor -> ledger counterparty); and
bank_transactions.check_number (Plaid's check_number, read by the check pass)

Revision ID: 0005_payee_memory
Revises: 0004_partitions
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005_payee_memory"
down_revision = "0004_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payee_memory",
        sa.Column("bank_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("descriptor", sa.String(length=200), nullable=True),
        sa.Column("counterparty", sa.String(length=200), nullable=True),
        sa.Column("ledger_entry_id", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("bank_transaction_id", "as_of", name=op.f("pk_payee_memory")),
    )
    with op.batch_alter_table("bank_transactions") as batch:
        batch.add_column(sa.Column("check_number", sa.String(length=32), nullable=True))
    _fill_check_numbers()


def _fill_check_numbers() -> None:
    """Rows stored before this revision: their check_number from the raw Plaid JSON."""
    bind = op.get_bind()
    table = sa.table(
        "bank_transactions",
        sa.column("transaction_id", sa.String),
        sa.column("raw_json", sa.Text),
        sa.column("check_number", sa.String),
    )
    rows = bind.execute(
        sa.select(table.c.transaction_id, table.c.raw_json).where(
            table.c.raw_json.like('%"check_number"%')
        )
    ).all()
    updates = []
    for transaction_id, raw in rows:
        try:
            number = json.loads(raw).get("check_number")
        except (ValueError, AttributeError):
            continue
        if isinstance(number, str) and number:
            updates.append({"id": transaction_id, "number": number[:32]})
    if updates:
        bind.execute(
            table.update()
            .where(table.c.transaction_id == sa.bindparam("id"))
            .values(check_number=sa.bindparam("number")),
            updates,
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_transactions") as batch:
        batch.drop_column("check_number")
    op.drop_table("payee_memory")
