"""partition results: what each partition of a partitioned run committed

Revision ID: 0004_partitions
Revises: 0003_reports_review
Create Date: 2026-12-05 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_partitions"
down_revision = "0003_reports_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partition_results",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("partition", sa.String(length=300), nullable=False),
        sa.Column("links", sa.LargeBinary(), nullable=False),
        sa.Column("discrepancies", sa.LargeBinary(), nullable=False),
        sa.Column("alternatives", sa.LargeBinary(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_partition_results")),
    )
    op.create_index(
        "ix_partition_results_as_of", "partition_results", ["as_of"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_partition_results_as_of", table_name="partition_results")
    op.drop_table("partition_results")
