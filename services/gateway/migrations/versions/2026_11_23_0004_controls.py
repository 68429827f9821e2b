"""controls: kill switches and their history, IP rules, rate-limit counters

Revision ID: gateway_0004
Revises: gateway_0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "gateway_0004"
down_revision: str | None = "gateway_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kill_switch",
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("set_by", sa.String(length=40), nullable=False),
        sa.Column("set_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("operation", "partner_id", name=op.f("pk_kill_switch")),
    )
    op.create_table(
        "kill_switch_change",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("set_by", sa.String(length=40), nullable=False),
        sa.Column("set_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kill_switch_change")),
    )
    op.create_index("ix_kill_switch_change_operation_set_at", "kill_switch_change", ["operation", "set_at"])
    op.create_table(
        "ip_rule",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("route_class", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("removed_by", sa.String(length=40), nullable=True),
        sa.CheckConstraint("route_class IN ('customer', 'partner', 'ops')", name=op.f("ck_ip_rule_route_class")),
        sa.CheckConstraint("kind IN ('allow', 'deny')", name=op.f("ck_ip_rule_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_rule")),
    )
    op.create_table(
        "rate_counter",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_counter")),
    )


def downgrade() -> None:
    op.drop_table("rate_counter")
    op.drop_table("ip_rule")
    op.drop_index("ix_kill_switch_change_operation_set_at", table_name="kill_switch_change")
    op.drop_table("kill_switch_change")
    op.drop_table("kill_switch")
