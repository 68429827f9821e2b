"""publications: notices of fraud cases for the public (INC-6 (e)), and the credit bureau's acknowledgements on
credit-information records (INC-6 (c): what was reported, and deleted, at the bureau)

Revision ID: txn_0008_publications
Revises: txn_0007_merge
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "txn_0008_publications"
down_revision: str | None = "txn_0007_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUREAU_COLUMNS = ("reported_at", "bureau_reference", "deleted_at", "deletion_reference")


def upgrade() -> None:
    with op.batch_alter_table("credit_information_record") as batch:
        batch.add_column(sa.Column("reported_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("bureau_reference", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("deleted_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("deletion_reference", sa.String(length=40), nullable=True))
    op.create_table(
        "publication",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("dispute_ids", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(length=40), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication")),
    )
    op.create_index("ix_publication_published_at", "publication", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_publication_published_at", table_name="publication")
    op.drop_table("publication")
    with op.batch_alter_table("credit_information_record") as batch:
        for column in reversed(BUREAU_COLUMNS):
            batch.drop_column(column)
