"""outbox messages keep the traceparent of the request that queued them: their delivery joins its trace

Revision ID: auth_0016_outbox_traceparent
Revises: auth_0015_staff_passkeys
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from shared.migrations import add_outbox_traceparent_v2, drop_outbox_traceparent_v2

revision: str = "auth_0016_outbox_traceparent"
down_revision: str | None = "auth_0015_staff_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_traceparent_v2()


def downgrade() -> None:
    drop_outbox_traceparent_v2()
