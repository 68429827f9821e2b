"""request_id retention: an index on idempotency_key.created_at, so the sweeper finds keys past their retention
without reading the whole table

Revision ID: txn_0009_request_id_retention
Revises: txn_0008_publications
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "txn_0009_request_id_retention"
down_revision: str | None = "txn_0008_publications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_key_created", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created", table_name="idempotency_key")
