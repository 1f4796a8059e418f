"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 04:57:04.107166
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('registered_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'channel_id', name='uq_customers_channel')
    )
    op.create_table('calendar_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('primary', 'staff', name='connection_kind', native_enum=False, length=32), nullable=False),
    sa.Column('owner_key', sa.String(length=32), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('account_email', sa.String(length=320), nullable=False),
    sa.Column('token_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('connected', 'needs_reconnect', 'missing_permission', 'unreachable', name='connection_state', native_enum=False, length=32), nullable=False),
    sa.Column('state_reason', sa.Text(), nullable=False),
    sa.Column('connected_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_checked_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'owner_key', name='uq_connections_slot')
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'slack_user_id', name='uq_members_person')
    )
    op.create_table('oauth_states',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('primary', 'staff', name='connection_kind', native_enum=False, length=32), nullable=False),
    sa.Column('verifier_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest')
    )


def downgrade() -> None:
    op.drop_table('oauth_states')
    op.drop_table('members')
    op.drop_table('calendar_connections')
    op.drop_table('customers')
