"""scoring: derived event columns, rule sets, scores, suppressions, cases, lists

Revision ID: fraud_0004
Revises: fraud_0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.database import UtcDateTime

revision: str = "fraud_0004"
down_revision: str | None = "fraud_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("network", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("asn", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("bank_account", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_event_device_key_time", ["device_key", "occurred_at"], unique=False)
        batch_op.create_index("ix_event_network_time", ["network", "occurred_at"], unique=False)
        batch_op.create_index("ix_event_bank_account_time", ["bank_account", "occurred_at"], unique=False)
    op.create_table(
        "rule_set",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("activated_by", sa.String(length=40), nullable=True),
        sa.Column("activated_at", UtcDateTime(), nullable=True),
        sa.Column("retired_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_rule_set")),
    )
    op.create_table(
        "score",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("rule_set_version", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score")),
    )
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.create_index("ix_score_customer_at", ["customer_id", "at"], unique=False)
        batch_op.create_index("ix_score_at", ["at"], unique=False)
    op.create_table(
        "suppression",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=12), nullable=False),
        sa.Column("entity_value", sa.String(length=200), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lifted_at", UtcDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
    )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.create_index("ix_suppression_entity", ["entity_type", "entity_value"], unique=False)
    op.create_table(
        "fraud_case",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("score_id", sa.String(length=40), nullable=True),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=True),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_case")),
    )
    with op.batch_alter_table("fraud_case", schema=None) as batch_op:
        batch_op.create_index("ix_fraud_case_status_opened", ["status", "opened_at"], unique=False)
        batch_op.create_index("ix_fraud_case_customer", ["customer_id"], unique=False)
    op.create_table(
        "list_entry",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("list", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("removed_by", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entry")),
    )
    with op.batch_alter_table("list_entry", schema=None) as batch_op:
        batch_op.create_index("ix_list_entry_list_value", ["list", "value"], unique=False)


def downgrade() -> None:
    for table in ("list_entry", "fraud_case", "suppression", "score", "rule_set"):
        op.drop_table(table)
    with op.batch_alter_table("event", schema=None) as batch_op:
        for index in ("ix_event_bank_account_time", "ix_event_network_time", "ix_event_device_key_time"):
            batch_op.drop_index(index)
        for column in ("bank_account", "amount", "asn", "country", "network", "device_key"):
            batch_op.drop_column(column)
