"""the customer's KYC status as identity proofing left it: verified when, by which method and verification

Revision ID: auth_0007_kyc_status
Revises: auth_0006_contact_changes
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0007_kyc_status"
down_revision: str | None = "auth_0006_contact_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        # "reverification_required" does not fit the 16 characters the column had.
        batch_op.alter_column(
            "kyc_status", existing_type=sa.String(length=16), type_=sa.String(length=24), existing_nullable=False
        )
        batch_op.add_column(sa.Column("kyc_method", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("kyc_verification_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("kyc_verified_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("kyc_changed_at", UtcDateTime(), nullable=True))
    op.create_table(
        "kyc_outcome",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_kyc_outcome_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_outcome")),
    )
    with op.batch_alter_table("kyc_outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kyc_outcome_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kyc_outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kyc_outcome_customer_id"))
    op.drop_table("kyc_outcome")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("kyc_changed_at")
        batch_op.drop_column("kyc_verified_at")
        batch_op.drop_column("kyc_verification_id")
        batch_op.drop_column("kyc_method")
        batch_op.alter_column(
            "kyc_status", existing_type=sa.String(length=24), type_=sa.String(length=16), existing_nullable=False
        )
