"""password resets: the reset of a forgotten password and the time of the customer's last reset

Revision ID: auth_0008_password_resets
Revises: auth_0007_kyc_status
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0008_password_resets"
down_revision: str | None = "auth_0007_kyc_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_reset_at", UtcDateTime(), nullable=True))
    op.create_table(
        "password_reset",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("email_challenge_id", sa.String(length=40), nullable=False),
        sa.Column("possession_challenge_id", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_password_reset_customer_id_customer")),
        sa.ForeignKeyConstraint(
            ["email_challenge_id"], ["challenge.id"], name=op.f("fk_password_reset_email_challenge_id_challenge")
        ),
        sa.ForeignKeyConstraint(
            ["possession_challenge_id"],
            ["challenge.id"],
            name=op.f("fk_password_reset_possession_challenge_id_challenge"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
    )
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_reset_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("password_reset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_customer_id"))
    op.drop_table("password_reset")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("password_reset_at")
