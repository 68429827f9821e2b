"""outbox: staff reads of notifications leave for auth's audit trail in the transaction of the read.

Revision ID: notify_0003
Revises: notify_0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from shared.migrations import create_outbox_table_v1

revision: str = "notify_0003"
down_revision: str | None = "notify_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_table_v1()


def downgrade() -> None:
    op.drop_table("outbox_message")
