"""connection health

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:33:42.254984
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slack_teams',
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('posting_stopped_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('posting_stopped_reason', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('team_id')
    )
    op.create_table('connection_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_state', sa.Enum('connected', 'needs_reconnect', 'missing_permission', 'unreachable', name='connection_state', native_enum=False, length=32), nullable=False),
    sa.Column('to_state', sa.Enum('connected', 'needs_reconnect', 'missing_permission', 'unreachable', name='connection_state', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('notice', sa.Enum('none', 'broken', 'recovered', name='notice', native_enum=False, length=32), nullable=False),
    sa.Column('notice_claimed_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_sent_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_ts', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['calendar_connections.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connection_events_connection_id'), ['connection_id'], unique=False)

    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('check_claimed_until', storage.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_problem', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('channel_problem_at', storage.models.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('channel_problem_at')
        batch_op.drop_column('channel_problem')

    with op.batch_alter_table('calendar_connections', schema=None) as batch_op:
        batch_op.drop_column('check_claimed_until')
        batch_op.drop_column('check_failures')

    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connection_events_connection_id'))

    op.drop_table('connection_events')
    op.drop_table('slack_teams')
