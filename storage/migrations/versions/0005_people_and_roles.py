"""people and roles: the customer's owner, each member's role and how it was decided, and
the Slack requests already handled (redelivered events are answered once)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_user_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("owner_set_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="staff")
        )
        batch_op.add_column(
            sa.Column("role_source", sa.String(length=16), nullable=False, server_default="slack")
        )
        batch_op.add_column(sa.Column("role_set_by", sa.String(length=32), nullable=True))
    op.create_table(
        "handled_requests",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("handled_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handled_requests_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handled_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handled_requests_at"))
    op.drop_table("handled_requests")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("role_set_by")
        batch_op.drop_column("role_source")
        batch_op.drop_column("role")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("owner_set_by")
        batch_op.drop_column("owner_user_id")
