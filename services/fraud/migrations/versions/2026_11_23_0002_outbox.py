"""outbox: notifications and events leave in the transaction that causes them.

Revision ID: fraud_0002
Revises: fraud_0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from shared.migrations import create_outbox_table_v1

revision: str = "fraud_0002"
down_revision: str | None = "fraud_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_table_v1()


def downgrade() -> None:
    op.drop_table("outbox_message")
