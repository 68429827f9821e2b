"""customers' passwords invalidated by staff in an incident (INC-1)

Revision ID: auth_0014_password_invalidation
Revises: auth_0013_device_blocks
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0014_password_invalidation"
down_revision: str | None = "auth_0013_device_blocks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_invalidated_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("password_invalidated_at")
