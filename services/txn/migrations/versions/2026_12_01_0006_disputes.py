"""disputes: disputes, the transactions they name, their transitions (append-only), and credit-information records

Revision ID: txn_0006_disputes
Revises: txn_0005_bank_links
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "txn_0006_disputes"
down_revision: str | None = "txn_0005_bank_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dispute",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("opened_by", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("declared_at", UtcDateTime(), nullable=True),
        sa.Column("declared_by", sa.String(length=40), nullable=True),
        sa.Column("relief_due_at", UtcDateTime(), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("relieved_amount", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute")),
    )
    op.create_index(op.f("ix_dispute_customer_id"), "dispute", ["customer_id"])
    op.create_index("ix_dispute_status_due", "dispute", ["status", "relief_due_at"])
    op.create_table(
        "dispute_transaction",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dispute_id", sa.String(length=40), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("claim", sa.String(length=40), nullable=True),
        sa.Column("relief_posting_id", sa.String(length=40), nullable=True),
        sa.Column("relieved_amount", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["dispute_id"], ["dispute.id"], name=op.f("fk_dispute_transaction_dispute_id_dispute")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_transaction")),
        sa.UniqueConstraint("claim", name=op.f("uq_dispute_transaction_claim")),
        sa.UniqueConstraint("dispute_id", "posting_id", name="uq_dispute_transaction_dispute_posting"),
    )
    op.create_index(op.f("ix_dispute_transaction_dispute_id"), "dispute_transaction", ["dispute_id"])
    op.create_table(
        "dispute_transition",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dispute_id", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dispute_id"], ["dispute.id"], name=op.f("fk_dispute_transition_dispute_id_dispute")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_transition")),
    )
    op.create_index(op.f("ix_dispute_transition_dispute_id"), "dispute_transition", ["dispute_id"])
    op.create_table(
        "credit_information_record",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("deletion_dispute_id", sa.String(length=40), nullable=True),
        sa.Column("deletion_requested_by", sa.String(length=40), nullable=True),
        sa.Column("deletion_requested_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_information_record")),
        sa.UniqueConstraint("kind", "posting_id", name="uq_credit_information_record_kind_posting"),
    )
    op.create_index(op.f("ix_credit_information_record_customer_id"), "credit_information_record", ["customer_id"])
    op.create_index(op.f("ix_credit_information_record_posting_id"), "credit_information_record", ["posting_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_credit_information_record_posting_id"), table_name="credit_information_record")
    op.drop_index(op.f("ix_credit_information_record_customer_id"), table_name="credit_information_record")
    op.drop_table("credit_information_record")
    op.drop_index(op.f("ix_dispute_transition_dispute_id"), table_name="dispute_transition")
    op.drop_table("dispute_transition")
    op.drop_index(op.f("ix_dispute_transaction_dispute_id"), table_name="dispute_transaction")
    op.drop_table("dispute_transaction")
    op.drop_index("ix_dispute_status_due", table_name="dispute")
    op.drop_index(op.f("ix_dispute_customer_id"), table_name="dispute")
    op.drop_table("dispute")
