"""merge: withdrawals (txn_0004) and disputes (txn_0006), built in parallel from the ledger, join here

Both add tables of their own and touch none of the other's, so their order does not matter; this revision makes
one head of the two again (Alembic upgrades to a single `head`). Revision ids stay within alembic_version's 32
characters.

Revision ID: txn_0007_merge
Revises: txn_0004_withdrawals, txn_0006_disputes
Create Date: 2026-12-01
"""

from collections.abc import Sequence

revision: str = "txn_0007_merge"
down_revision: str | tuple[str, ...] | None = ("txn_0004_withdrawals", "txn_0006_disputes")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
