"""lockout for second factors, staff and unknown login ids; decoy applications (issue 13 items 2, 3, 5)

login_guard guards any subject, not only customers: a customer id, a staff id, or a keyed digest of a login id that
names no account (`?` + blind index, expiring). Wrong one-time codes are counted per side, apart from passwords.
decoy_application remembers what an application with an already registered e-mail chose, so that logging in with
it answers as a new account would.

Revision ID: auth_0005_guards
Revises: auth_0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0005_guards"
down_revision: str | None = "auth_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_guard", schema=None) as batch_op:
        batch_op.drop_constraint("fk_login_guard_customer_id_customer", type_="foreignkey")
        batch_op.alter_column("customer_id", existing_type=sa.String(length=40), type_=sa.String(length=80))
        batch_op.alter_column("code_failures", new_column_name="stranger_code_failures", existing_type=sa.Integer())
        batch_op.add_column(sa.Column("known_code_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
        batch_op.create_index("ix_login_guard_expires_at", ["expires_at"], unique=False)
    op.create_table(
        "decoy_application",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("password_digest", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decoy_application")),
    )
    with op.batch_alter_table("decoy_application", schema=None) as batch_op:
        batch_op.create_index("ix_decoy_application_email_index", ["email_index"], unique=False)
        batch_op.create_index("ix_decoy_application_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("decoy_application")
    op.execute("DELETE FROM login_guard WHERE customer_id NOT IN (SELECT id FROM customer)")
    with op.batch_alter_table("login_guard", schema=None) as batch_op:
        batch_op.drop_index("ix_login_guard_expires_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("known_code_failures")
        batch_op.alter_column("stranger_code_failures", new_column_name="code_failures", existing_type=sa.Integer())
        batch_op.alter_column("customer_id", existing_type=sa.String(length=80), type_=sa.String(length=40))
        batch_op.create_foreign_key("fk_login_guard_customer_id_customer", "customer", ["customer_id"], ["id"])
