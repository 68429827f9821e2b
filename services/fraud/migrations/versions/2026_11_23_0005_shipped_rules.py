"""the shipped rule set, version 1, live

The rules as shipped when the database was created (default_rules.json at migration time); later versions
are made by staff through the rule-set routes, each one kept.

Revision ID: fraud_0005
Revises: fraud_0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.fraud.scoring import default_rule_set
from shared.database import UtcDateTime

revision: str = "fraud_0005"
down_revision: str | None = "fraud_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rule_set = sa.table(
        "rule_set",
        sa.column("version", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("body", sa.Text()),
        sa.column("note", sa.String()),
        sa.column("created_by", sa.String()),
        sa.column("created_at", UtcDateTime()),
        sa.column("activated_by", sa.String()),
        sa.column("activated_at", UtcDateTime()),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        rule_set,
        [
            {
                "version": 1,
                "status": "live",
                "body": default_rule_set().model_dump_json(),
                "note": "shipped default",
                "created_by": "system",
                "created_at": now,
                "activated_by": "system",
                "activated_at": now,
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM rule_set WHERE version = 1 AND created_by = 'system'")
