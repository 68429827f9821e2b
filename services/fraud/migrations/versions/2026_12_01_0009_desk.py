"""the consultation desk (INC-5): inquiries and their answers

Revision ID: fraud_0009_desk
Revises: fraud_0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "fraud_0009_desk"
down_revision: str | None = "fraud_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inquiry",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("incident_id", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("caller", sa.String(length=8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_changed_at", UtcDateTime(), nullable=False),
        sa.Column("status_changed_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry")),
    )
    op.create_index("ix_inquiry_customer", "inquiry", ["customer_id"])
    op.create_index("ix_inquiry_incident", "inquiry", ["incident_id"])
    op.create_index("ix_inquiry_status", "inquiry", ["status"])
    op.create_table(
        "inquiry_answer",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("inquiry_id", sa.String(length=40), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("by", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_answer")),
    )
    op.create_index("ix_inquiry_answer_inquiry", "inquiry_answer", ["inquiry_id", "at"])


def downgrade() -> None:
    op.drop_table("inquiry_answer")
    op.drop_table("inquiry")
