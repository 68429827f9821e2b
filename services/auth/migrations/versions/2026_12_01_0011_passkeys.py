"""passkeys (WebAuthn credentials) and the server-held challenges of their ceremonies

Revision ID: auth_0011_passkeys
Revises: auth_0010_recovery_codes
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0011_passkeys"
down_revision: str | None = "auth_0010_recovery_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "passkey",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_passkey_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkey_credential_id")),
    )
    with op.batch_alter_table("passkey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passkey_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "webauthn_ceremony",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("challenge_id", sa.String(length=40), nullable=True),
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_ceremony")),
    )
    with op.batch_alter_table("webauthn_ceremony", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webauthn_ceremony_challenge_id"), ["challenge_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_webauthn_ceremony_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webauthn_ceremony", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webauthn_ceremony_expires_at"))
        batch_op.drop_index(batch_op.f("ix_webauthn_ceremony_challenge_id"))
    op.drop_table("webauthn_ceremony")
    with op.batch_alter_table("passkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passkey_customer_id"))
    op.drop_table("passkey")
