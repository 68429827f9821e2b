"""the audit trail hash-chained and append-only (SEC-6), indexed by the customers it names; outsourced staff and
their entries marked (DATA-4)

Entries stored before get their positions and chain values here, in (at, id) order, with the key the service
will use (SEKISHO_AUDIT_CHAIN_KEY, read as auth reads it). On PostgreSQL a trigger refuses UPDATE, DELETE and
TRUNCATE of the trail: the service never changes an entry, and someone who can still do it (an owner disabling
the trigger) is found by `sekisho audit verify`.

Revision ID: auth_0012_audit_chain
Revises: auth_0011_passkeys
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0012_audit_chain"
down_revision: str | None = "auth_0011_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "id",
    "at",
    "received_at",
    "service",
    "actor_id",
    "actor_role",
    "session_id",
    "ip",
    "action",
    "target_type",
    "target_id",
    "detail",
    "outsourced",
)


def upgrade() -> None:
    import json

    from services.auth import audit, audit_chain
    from services.auth.settings import AuthSettings
    from shared.database import UtcDateTime

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outsourced", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outsourced", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("chain", sa.String(length=64), nullable=True))

    op.create_table(
        "audit_customer",
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["audit_entry.id"], name=op.f("fk_audit_customer_entry_id_audit_entry")),
        sa.PrimaryKeyConstraint("entry_id", "customer_id", name=op.f("pk_audit_customer")),
    )
    with op.batch_alter_table("audit_customer", schema=None) as batch_op:
        batch_op.create_index("ix_audit_customer_customer_id", ["customer_id"], unique=False)

    entry = sa.table(
        "audit_entry",
        *(sa.column(name, UtcDateTime() if name in ("at", "received_at") else None) for name in _COLUMNS),
        sa.column("seq"),
        sa.column("chain"),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(entry).order_by(entry.c.at, entry.c.id)).mappings().all()
    if rows:
        key = AuthSettings().chain_key()
        linked = audit_chain.link(key, (0, audit_chain.GENESIS), [dict(row) for row in rows])
        for row in linked:
            bind.execute(entry.update().where(entry.c.id == row["id"]).values(seq=row["seq"], chain=row["chain"]))
        named = sa.table("audit_customer", sa.column("entry_id"), sa.column("customer_id"))
        pairs = [
            {"entry_id": row["id"], "customer_id": customer_id}
            for row in rows
            for customer_id in audit.customers_named(row["target_id"], json.loads(row["detail"]))
        ]
        if pairs:
            bind.execute(named.insert(), pairs)

    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("chain", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_entry_seq"), ["seq"])

    if bind.dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in ("audit_entry", "audit_customer"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("audit_entry", "audit_customer"):
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION audit_entry_append_only()")
    op.drop_table("audit_customer")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_entry_seq"), type_="unique")
        batch_op.drop_column("chain")
        batch_op.drop_column("seq")
        batch_op.drop_column("outsourced")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("outsourced")
