"""events carry the digest of their device key, which staff see and search by instead of the key

Revision ID: fraud_0006
Revises: fraud_0005
Create Date: 2026-12-01
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fraud_0006"
down_revision: str | None = "fraud_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _digest(key: str) -> str:
    # services/fraud/device_digests.py, repeated: a migration must keep doing what it did when it was written.
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_digest", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_event_device_digest_time", ["device_digest", "occurred_at"], unique=False)
    event = sa.table(
        "event",
        sa.column("id", sa.String()),
        sa.column("device_key", sa.String()),
        sa.column("device_digest", sa.String()),
    )
    bind = op.get_bind()
    keys = bind.execute(sa.select(event.c.device_key).where(event.c.device_key.is_not(None)).distinct()).scalars().all()
    for key in keys:
        bind.execute(event.update().where(event.c.device_key == key).values(device_digest=_digest(key)))


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_device_digest_time")
        batch_op.drop_column("device_digest")
