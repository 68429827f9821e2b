"""events carry the channel they came through (app, web, atm, ops, system), for access trends (MON-1)

Revision ID: fraud_0010_event_channel
Revises: fraud_0009_desk
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fraud_0010_event_channel"
down_revision: str | None = "fraud_0009_desk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events stored before are `unknown`: nothing recorded then tells an app from a browser.
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=8), server_default="unknown", nullable=False))
        batch_op.create_index("ix_event_channel_time", ["channel", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_channel_time")
        batch_op.drop_column("channel")
