"""channel facts kept between digests: the channel's members and sharing as last read

Existing customers have none kept: their next digest reads them from Slack.

Plain ALTER TABLE, as 0009 explains (a batch would rebuild `customers` on SQLite).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("channel_members", sa.Text()),
    ("channel_ext_shared", sa.Boolean()),
    ("channel_read_at", storage.models.UTCDateTime(timezone=True)),
    ("channel_changed_at", storage.models.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("customers", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("customers", name)
