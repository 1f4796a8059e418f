"""scheduling depth: the customer's buffer, notice and slot step, and people's time off

Existing customers get what the bot did before these could be chosen: no buffer, no
notice, slots on a 15-minute grid.

The customer columns are added and dropped with plain ALTER TABLE, not a batch: on SQLite a
batch that must rebuild `customers` drops the old table, and with foreign keys on that
deletes every member, connection and booking of every customer (`ON DELETE CASCADE`).
SQLite adds and drops a plain column in place (DROP COLUMN since 3.35).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SCHEDULING = (("buffer_minutes", "0"), ("notice_minutes", "0"), ("step_minutes", "15"))


def upgrade() -> None:
    for name, default in _SCHEDULING:
        op.add_column(
            "customers", sa.Column(name, sa.Integer(), nullable=False, server_default=default)
        )
    op.create_table(
        "time_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("short_id", sa.String(length=8), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "short_id", name="uq_time_off_short_id"),
        sa.UniqueConstraint("request_key"),
    )
    op.create_index(
        "ix_time_off_customer_last_day", "time_off", ["customer_id", "last_day"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_time_off_customer_last_day", table_name="time_off")
    op.drop_table("time_off")
    for name, _ in reversed(_SCHEDULING):
        op.drop_column("customers", name)
