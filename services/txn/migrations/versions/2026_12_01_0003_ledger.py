"""ledger: postings and their entries (append-only), credit lines with their history, and credit holds

Revision ID: txn_0003_ledger
Revises: txn_0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "txn_0003_ledger"
down_revision: str | None = "txn_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "posting",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posting")),
        sa.UniqueConstraint("kind", "reference", name="uq_posting_kind_reference"),
    )
    op.create_index(op.f("ix_posting_customer_id"), "posting", ["customer_id"])
    op.create_index("ix_posting_customer_created", "posting", ["customer_id", "created_at"])
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["posting_id"], ["posting.id"], name=op.f("fk_ledger_entry_posting_id_posting")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
    )
    op.create_index(op.f("ix_ledger_entry_posting_id"), "ledger_entry", ["posting_id"])
    op.create_index("ix_ledger_entry_account", "ledger_entry", ["account"])
    op.create_table(
        "credit_line",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_credit_line")),
    )
    op.create_table(
        "credit_line_change",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("old_limit", sa.BigInteger(), nullable=True),
        sa.Column("new_limit", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_line_change")),
    )
    op.create_index(op.f("ix_credit_line_change_customer_id"), "credit_line_change", ["customer_id"])
    op.create_table(
        "credit_hold",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("settled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_hold")),
        sa.UniqueConstraint("reference", name=op.f("uq_credit_hold_reference")),
    )
    op.create_index("ix_credit_hold_customer_status", "credit_hold", ["customer_id", "status"])
    op.create_index("ix_credit_hold_status_expires", "credit_hold", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("credit_hold")
    op.drop_index(op.f("ix_credit_line_change_customer_id"), table_name="credit_line_change")
    op.drop_table("credit_line_change")
    op.drop_table("credit_line")
    op.drop_table("ledger_entry")
    op.drop_table("posting")
