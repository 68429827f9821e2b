"""withdrawals: partner ATM sessions, the customers' withdrawals and their one-time codes, the partners'
authorizations, and idempotency keys

Revision ID: txn_0004_withdrawals
Revises: txn_0003_ledger
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "txn_0004_withdrawals"
down_revision: str | None = "txn_0003_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "atm_session",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("atm_id", sa.String(length=64), nullable=False),
        sa.Column("qr_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_atm_session")),
    )
    op.create_index("ix_atm_session_partner_atm", "atm_session", ["partner_id", "atm_id"])
    op.create_table(
        "withdrawal",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", UtcDateTime(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["atm_session.id"], name=op.f("fk_withdrawal_session_id_atm_session")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawal")),
        sa.UniqueConstraint("session_id", name=op.f("uq_withdrawal_session_id")),
    )
    op.create_index(op.f("ix_withdrawal_customer_id"), "withdrawal", ["customer_id"])
    op.create_table(
        "atm_authorization",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("withdrawal_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("atm_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("settled_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["withdrawal_id"], ["withdrawal.id"], name=op.f("fk_atm_authorization_withdrawal_id_withdrawal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_atm_authorization")),
        sa.UniqueConstraint("partner_id", "request_id", name="uq_atm_authorization_partner_request"),
        sa.UniqueConstraint("withdrawal_id", name=op.f("uq_atm_authorization_withdrawal_id")),
    )
    op.create_index("ix_atm_authorization_customer_created", "atm_authorization", ["customer_id", "created_at"])
    op.create_index("ix_atm_authorization_status_expires", "atm_authorization", ["status", "expires_at"])
    op.create_table(
        "idempotency_key",
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("lease_token", sa.String(length=40), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_key")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_key")
    op.drop_index("ix_atm_authorization_status_expires", table_name="atm_authorization")
    op.drop_index("ix_atm_authorization_customer_created", table_name="atm_authorization")
    op.drop_table("atm_authorization")
    op.drop_index(op.f("ix_withdrawal_customer_id"), table_name="withdrawal")
    op.drop_table("withdrawal")
    op.drop_index("ix_atm_session_partner_atm", table_name="atm_session")
    op.drop_table("atm_session")
