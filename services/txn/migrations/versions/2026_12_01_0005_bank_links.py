"""bank links: links with the rules they were made under, the per-customer wallet lock row, completed charges,
per-bank suspensions and the runs of the existing-link review

Revision ID: txn_0005_bank_links
Revises: txn_0003_ledger
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "txn_0005_bank_links"
down_revision: str | None = "txn_0003_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_link",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("bank_name", sa.String(length=100), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_number", sa.String(length=200), nullable=False),
        sa.Column("account_last4", sa.String(length=4), nullable=False),
        sa.Column("account_digest", sa.String(length=64), nullable=False),
        sa.Column("holder_kana", sa.String(length=400), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("kyc_method", sa.String(length=16), nullable=True),
        sa.Column("kyc_verification_id", sa.String(length=40), nullable=True),
        sa.Column("possession_factor", sa.String(length=16), nullable=True),
        sa.Column("holder_matched_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("cool_off_until", UtcDateTime(), nullable=False),
        sa.Column("status_changed_at", UtcDateTime(), nullable=True),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("replaced_by", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_link")),
    )
    op.create_index("ix_bank_link_customer_status", "bank_link", ["customer_id", "status"])
    op.create_index("ix_bank_link_account_digest", "bank_link", ["account_digest"])
    op.create_index(
        "uq_bank_link_active_account",
        "bank_link",
        ["customer_id", "account_digest"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "wallet",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_wallet")),
    )
    op.create_table(
        "charge",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("bank_reference", sa.String(length=80), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["bank_link.id"], name=op.f("fk_charge_link_id_bank_link")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge")),
        sa.UniqueConstraint("customer_id", "idempotency_key", name="uq_charge_customer_idempotency_key"),
    )
    op.create_index("ix_charge_customer_created", "charge", ["customer_id", "created_at"])
    op.create_index("ix_charge_link_created", "charge", ["link_id", "created_at"])
    op.create_table(
        "bank_suspension",
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("bank_code", name=op.f("pk_bank_suspension")),
    )
    op.create_table(
        "link_review_run",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("cursor", sa.String(length=40), nullable=True),
        sa.Column("reviewed", sa.Integer(), nullable=False),
        sa.Column("suspended", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("total_at_start", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_review_run")),
    )
    op.create_index("ix_link_review_run_status", "link_review_run", ["status"])


def downgrade() -> None:
    op.drop_table("link_review_run")
    op.drop_table("bank_suspension")
    op.drop_table("charge")
    op.drop_table("wallet")
    op.drop_index("uq_bank_link_active_account", table_name="bank_link")
    op.drop_table("bank_link")
