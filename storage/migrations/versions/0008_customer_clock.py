"""customers choose how times are written: `clock` ("12h" or "24h")

Existing customers get None: the convention of their timezone's country, as before any
customer could choose.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("clock")
