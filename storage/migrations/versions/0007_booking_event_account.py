"""bookings remember the account and calendar that hold their event, and their message

Existing bookings take the account of their customer's primary calendar as it is now (the
best knowledge there is); with no primary connected, the account is left unknown ("").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("event_account", sa.String(length=320), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "event_calendar", sa.String(length=320), nullable=False, server_default="primary"
            )
        )
        batch_op.add_column(sa.Column("message_ts", sa.String(length=32), nullable=True))
    op.execute(
        """
        UPDATE bookings SET event_account = (
            SELECT c.account_email FROM calendar_connections c
            WHERE c.customer_id = bookings.customer_id AND c.owner_key = 'primary'
        )
        WHERE EXISTS (
            SELECT 1 FROM calendar_connections c
            WHERE c.customer_id = bookings.customer_id AND c.owner_key = 'primary'
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("message_ts")
        batch_op.drop_column("event_calendar")
        batch_op.drop_column("event_account")
