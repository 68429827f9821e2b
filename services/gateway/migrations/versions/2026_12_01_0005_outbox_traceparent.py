"""outbox messages keep the traceparent of the request that queued them: their delivery joins its trace

Revision ID: gateway_0005_outbox_traceparent
Revises: gateway_0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from shared.migrations import add_outbox_traceparent_v2, drop_outbox_traceparent_v2

revision: str = "gateway_0005_outbox_traceparent"
down_revision: str | None = "gateway_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_traceparent_v2()


def downgrade() -> None:
    drop_outbox_traceparent_v2()
