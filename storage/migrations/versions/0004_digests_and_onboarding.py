"""digests and onboarding

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 07:36:24.947638
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('claimed_until', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'local_date', name='uq_digests_day')
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_enabled', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('digest_time', sa.String(length=5), nullable=False, server_default='07:00'))
        batch_op.add_column(sa.Column('checklist_ts', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('availability_asked_at', storage.models.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('availability_asked_at')
        batch_op.drop_column('checklist_ts')
        batch_op.drop_column('digest_time')
        batch_op.drop_column('digest_enabled')

    op.drop_table('digests')
