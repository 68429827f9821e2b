"""verifications: cases with their transitions and sealed images, postal codes, verified identities, and the KYC
status relayed to auth

Revision ID: kyc_0003_verifications
Revises: kyc_0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "kyc_0003_verifications"
down_revision: str | None = "kyc_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verification_case",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document_type", sa.String(length=24), nullable=True),
        sa.Column("open_customer_id", sa.String(length=40), nullable=True),
        sa.Column("declared", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decision_reason", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_case")),
        sa.UniqueConstraint("open_customer_id", name=op.f("uq_verification_case_open_customer_id")),
    )
    op.create_index(op.f("ix_verification_case_customer_id"), "verification_case", ["customer_id"])
    op.create_index("ix_verification_case_status_id", "verification_case", ["status", "id"])
    op.create_table(
        "verification_transition",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification_case.id"],
            name=op.f("fk_verification_transition_verification_id_verification_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_transition")),
    )
    op.create_index(op.f("ix_verification_transition_verification_id"), "verification_transition", ["verification_id"])
    op.create_table(
        "verification_image",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("content_type", sa.String(length=24), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification_case.id"],
            name=op.f("fk_verification_image_verification_id_verification_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_image")),
    )
    op.create_index(op.f("ix_verification_image_verification_id"), "verification_image", ["verification_id"])
    op.create_table(
        "postal_code",
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["verification_id"], ["verification_case.id"], name=op.f("fk_postal_code_verification_id_verification_case")
        ),
        sa.PrimaryKeyConstraint("verification_id", name=op.f("pk_postal_code")),
    )
    op.create_table(
        "verified_identity",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification_case.id"],
            name=op.f("fk_verified_identity_verification_id_verification_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verified_identity")),
        sa.UniqueConstraint("verification_id", name=op.f("uq_verified_identity_verification_id")),
    )
    op.create_index(op.f("ix_verified_identity_customer_id"), "verified_identity", ["customer_id"])
    op.create_table(
        "kyc_status_sync",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("synced_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification_case.id"],
            name=op.f("fk_kyc_status_sync_verification_id_verification_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_status_sync")),
        sa.UniqueConstraint("verification_id", name=op.f("uq_kyc_status_sync_verification_id")),
    )
    op.create_index("ix_kyc_status_sync_due", "kyc_status_sync", ["synced_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_kyc_status_sync_due", table_name="kyc_status_sync")
    op.drop_table("kyc_status_sync")
    op.drop_index(op.f("ix_verified_identity_customer_id"), table_name="verified_identity")
    op.drop_table("verified_identity")
    op.drop_table("postal_code")
    op.drop_index(op.f("ix_verification_image_verification_id"), table_name="verification_image")
    op.drop_table("verification_image")
    op.drop_index(op.f("ix_verification_transition_verification_id"), table_name="verification_transition")
    op.drop_table("verification_transition")
    op.drop_index("ix_verification_case_status_id", table_name="verification_case")
    op.drop_index(op.f("ix_verification_case_customer_id"), table_name="verification_case")
    op.drop_table("verification_case")
