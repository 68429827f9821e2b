"""single-use recovery codes, kept as keyed hashes; a replacement authenticator app waits beside the confirmed one

Revision ID: auth_0010_recovery_codes
Revises: auth_0009_staff_sessions
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0010_recovery_codes"
down_revision: str | None = "auth_0009_staff_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recovery_code",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_recovery_code_customer_id_customer")),
        sa.PrimaryKeyConstraint("customer_id", "code_hash", name=op.f("pk_recovery_code")),
    )
    with op.batch_alter_table("totp_factor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("totp_factor", schema=None) as batch_op:
        batch_op.drop_column("pending_secret")
    op.drop_table("recovery_code")
