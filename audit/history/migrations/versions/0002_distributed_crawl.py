"""distributed crawl: planned probes and observations shared by the workers of one run

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('crawl_probes',
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('probe_id', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'probe_id')
    )
    op.create_table('crawl_observations',
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('probe_id', sa.String(length=120), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'probe_id')
    )


def downgrade() -> None:
    op.drop_table('crawl_observations')
    op.drop_table('crawl_probes')
