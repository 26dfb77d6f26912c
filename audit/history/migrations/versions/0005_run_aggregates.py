"""run aggregates: each run's edge outcome counts, requirement statuses and findings by what
they are about, made when the run is recorded (audit/history/aggregate.py)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before this revision get their row when it is first read
    # (store.load_aggregates computes it from the run's rows with the aggregator the
    # recording uses, store.backfill_aggregates): a store of many large runs is not held up
    # here for minutes while it opens.
    op.create_table(
        "run_aggregates",
        sa.Column("run_id", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )


def downgrade() -> None:
    op.drop_table("run_aggregates")
