"""bookings and working hours

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:08:10.228628
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('short_id', sa.String(length=8), nullable=False),
    sa.Column('request_key', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('staff_user_id', sa.String(length=32), nullable=False),
    sa.Column('staff_email', sa.String(length=320), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('starts_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('booked_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('booked', 'cancelled', name='booking_status', native_enum=False, length=32), nullable=False),
    sa.Column('cancelled_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'short_id', name='uq_bookings_short_id'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('request_key')
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index('ix_bookings_staff_time', ['customer_id', 'staff_user_id', 'starts_at'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_start', sa.String(length=5), nullable=False, server_default='09:00'))
        batch_op.add_column(sa.Column('work_end', sa.String(length=5), nullable=False, server_default='17:00'))
        batch_op.add_column(sa.Column('work_days', sa.String(length=7), nullable=False, server_default='01234'))

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_start', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('work_end', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('work_days', sa.String(length=7), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('work_days')
        batch_op.drop_column('work_end')
        batch_op.drop_column('work_start')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('work_days')
        batch_op.drop_column('work_end')
        batch_op.drop_column('work_start')

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_bookings_staff_time')

    op.drop_table('bookings')
