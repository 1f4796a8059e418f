"""booking claims: one booking of a staff member at a time, without a transaction held
over Google's calls

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_claims",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=False),
        sa.Column("claimed_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "staff_user_id"),
    )


def downgrade() -> None:
    op.drop_table("booking_claims")
