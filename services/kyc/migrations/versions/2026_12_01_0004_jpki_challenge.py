"""jpki_challenge: the challenge of a JPKI case and what its certificate proved

Revision ID: kyc_0004_jpki_challenge
Revises: kyc_0003_verifications
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "kyc_0004_jpki_challenge"
down_revision: str | None = "kyc_0003_verifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jpki_challenge",
        sa.Column("verification_id", sa.String(length=40), nullable=False),
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("certificate_identity", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verification_case.id"],
            name=op.f("fk_jpki_challenge_verification_id_verification_case"),
        ),
        sa.PrimaryKeyConstraint("verification_id", name=op.f("pk_jpki_challenge")),
    )


def downgrade() -> None:
    op.drop_table("jpki_challenge")
