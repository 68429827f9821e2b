"""partners: partner ATM networks, their HMAC keys (RFC 9421) and the nonces already accepted

Revision ID: gateway_0003
Revises: gateway_0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "gateway_0003"
down_revision: str | None = "gateway_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("allowed_cidrs", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("disabled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_name")),
    )
    op.create_table(
        "partner_key",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_partner_key_partner_id_partner")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_partner_key")),
    )
    with op.batch_alter_table("partner_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_key_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "signature_nonce",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "nonce", name=op.f("pk_signature_nonce")),
    )
    with op.batch_alter_table("signature_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signature_nonce_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signature_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_nonce_seen_at"))

    op.drop_table("signature_nonce")
    with op.batch_alter_table("partner_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_key_partner_id"))

    op.drop_table("partner_key")
    op.drop_table("partner")
