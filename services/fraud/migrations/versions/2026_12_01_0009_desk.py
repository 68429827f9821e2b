"""the consultation desk (INC-5); cases with an assignee, comments, more statuses; devices blocked as infected

Revision ID: fraud_0009_desk
Revises: fraud_0008_incidents
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "fraud_0009_desk"
down_revision: str | None = "fraud_0008_incidents"
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
    with op.batch_alter_table("fraud_case", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=8), type_=sa.String(length=12))
        batch_op.add_column(sa.Column("assignee", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("assigned_by", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_fraud_case_assignee", ["assignee"], unique=False)
    op.create_table(
        "fraud_case_comment",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("by", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_case_comment")),
    )
    op.create_index("ix_fraud_case_comment_case", "fraud_case_comment", ["case_id", "at"])
    with op.batch_alter_table("list_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_entry", schema=None) as batch_op:
        batch_op.drop_column("reason")
    op.drop_table("fraud_case_comment")
    op.execute("UPDATE fraud_case SET status = 'open' WHERE status IN ('in_review', 'escalated')")
    with op.batch_alter_table("fraud_case", schema=None) as batch_op:
        batch_op.drop_index("ix_fraud_case_assignee")
        batch_op.drop_column("assigned_by")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assignee")
        batch_op.alter_column("status", existing_type=sa.String(length=12), type_=sa.String(length=8))
    op.drop_table("inquiry_answer")
    op.drop_table("inquiry")
