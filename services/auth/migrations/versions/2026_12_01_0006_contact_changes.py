"""e-mail and phone changes wait for a code sent to the new contact; the time of the last one is kept

Revision ID: auth_0006_contact_changes
Revises: auth_0005_guards
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0006_contact_changes"
down_revision: str | None = "auth_0005_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_changed_at", UtcDateTime(), nullable=True))
    op.create_table(
        "contact_change",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("attribute", sa.String(length=8), nullable=False),
        sa.Column("new_value", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_contact_change_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_change")),
    )
    with op.batch_alter_table("contact_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_change_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_change_customer_id"))
    op.drop_table("contact_change")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("contact_changed_at")
