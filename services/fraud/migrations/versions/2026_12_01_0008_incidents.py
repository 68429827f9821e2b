"""incidents: the incident, its append-only timeline, its affected customers, notices and recurrence prevention

Revision ID: fraud_0008_incidents
Revises: fraud_0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "fraud_0008_incidents"
down_revision: str | None = "fraud_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("detected_at", UtcDateTime(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index("ix_incident_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_incident_created", ["created_at"], unique=False)
    op.create_table(
        "incident_entry",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=40), nullable=False),
        sa.Column("corrects", sa.String(length=40), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_entry")),
    )
    with op.batch_alter_table("incident_entry", schema=None) as batch_op:
        batch_op.create_index("ux_incident_entry_seq", ["incident_id", "seq"], unique=True)
    op.create_table(
        "incident_customer",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failure", sa.String(length=300), nullable=True),
        sa.Column("contained_at", UtcDateTime(), nullable=True),
        sa.Column("locked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "customer_id", name=op.f("pk_incident_customer")),
    )
    op.create_table(
        "incident_notice",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("sent_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "template", "customer_id", name=op.f("pk_incident_notice")),
    )
    op.create_table(
        "incident_recurrence",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("risk_reassessment", sa.Text(), nullable=False),
        sa.Column("customer_cautions", sa.Text(), nullable=False),
        sa.Column("training_material", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "version", name=op.f("pk_incident_recurrence")),
    )


def downgrade() -> None:
    op.drop_table("incident_recurrence")
    op.drop_table("incident_notice")
    op.drop_table("incident_customer")
    with op.batch_alter_table("incident_entry", schema=None) as batch_op:
        batch_op.drop_index("ux_incident_entry_seq")
    op.drop_table("incident_entry")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_created")
        batch_op.drop_index("ix_incident_status_created")
    op.drop_table("incident")
