"""search classes: the class each search engine gets on each platform of a run

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before this revision have no rows: `hulian diff` then compares no search
    # classes for them (as for a bundle made before search barriers were measured);
    # `hulian runs import --replace BUNDLE` records them.
    op.create_table(
        "search_classes",
        sa.Column("run_id", sa.String(length=120), nullable=False),
        sa.Column("platform", sa.String(length=120), nullable=False),
        sa.Column("engine", sa.String(length=80), nullable=False),
        sa.Column("search_class", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "platform", "engine"),
    )


def downgrade() -> None:
    op.drop_table("search_classes")
