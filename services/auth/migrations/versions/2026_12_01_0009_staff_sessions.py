"""staff sessions that last a shift: when a session was last used, for its idle timeout

Revision ID: auth_0009_staff_sessions
Revises: auth_0008_password_resets
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "auth_0009_staff_sessions"
down_revision: str | None = "auth_0008_password_resets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_column("last_active_at")
