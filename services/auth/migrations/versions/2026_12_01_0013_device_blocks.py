"""devices blocked as infected (SEC-3), per customer and device digest

Revision ID: auth_0013_device_blocks
Revises: auth_0012_audit_chain
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0013_device_blocks"
down_revision: str | None = "auth_0012_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_block",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("device_digest", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=60), nullable=False),
        sa.Column("blocked_at", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=True),
        sa.Column("lifted_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_block")),
    )
    op.create_index("ix_device_block_customer_digest", "device_block", ["customer_id", "device_digest"])


def downgrade() -> None:
    op.drop_table("device_block")
