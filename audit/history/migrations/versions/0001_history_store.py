"""history store: runs, observations, verdicts, graph metrics

Revision ID: 0001
Revises:
Create Date: 2026-11-28 03:21:47.136735
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('runs',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tool_version', sa.String(length=40), nullable=True),
    sa.Column('policy_digest', sa.String(length=64), nullable=True),
    sa.Column('sources_key', sa.Text(), nullable=False),
    sa.Column('n_observations', sa.Integer(), nullable=False),
    sa.Column('n_verdicts', sa.Integer(), nullable=False),
    sa.Column('n_failed', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_sources_key'), ['sources_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_started_at'), ['started_at'], unique=False)

    op.create_table('graph_metrics',
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('node', sa.String(length=120), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'level', 'node', 'metric')
    )
    with op.batch_alter_table('graph_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_graph_metrics_series', ['level', 'node', 'metric'], unique=False)

    op.create_table('observations',
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('probe_id', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('surface', sa.String(length=20), nullable=False),
    sa.Column('target_url', sa.Text(), nullable=False),
    sa.Column('target_platform', sa.String(length=120), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'id')
    )
    op.create_table('verdicts',
    sa.Column('run_id', sa.String(length=120), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('rule_id', sa.String(length=80), nullable=False),
    sa.Column('observation_id', sa.String(length=120), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('surface', sa.String(length=20), nullable=True),
    sa.Column('target_url', sa.Text(), nullable=True),
    sa.Column('target_platform', sa.String(length=120), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('reason_zh', sa.Text(), nullable=False),
    sa.Column('reason_en', sa.Text(), nullable=False),
    sa.Column('exemption', sa.String(length=80), nullable=True),
    sa.Column('requirements', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'id')
    )
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.create_index('ix_verdicts_rule', ['run_id', 'rule_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_index('ix_verdicts_rule')

    op.drop_table('verdicts')
    op.drop_table('observations')
    with op.batch_alter_table('graph_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_graph_metrics_series')

    op.drop_table('graph_metrics')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_started_at'))
        batch_op.drop_index(batch_op.f('ix_runs_sources_key'))

    op.drop_table('runs')
