"""Alembic, one migration history per service, run programmatically on that service's own database."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text

from shared.database import Database


def alembic_config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision(script_location: Path) -> str | None:
    """The head of the scripts shipped with the code: read once per process (reading the scripts takes about
    15 ms, and a test builds six services a system)."""
    return ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()


async def upgrade(database: Database, script_location: Path) -> str | None:
    """Bring the service's database to head; safe to run from several replicas at once.

    Within one process, run migrations one after another: Alembic's `context` is a module global.
    """
    schema = database.target.schema
    async with database.engine.begin() as conn:
        if schema is not None:
            # Replicas starting together take turns; the lock ends with the transaction.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"sekisho-migrate:{schema}"}
            )
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(script_location, sync_conn), "head"))
    return await database.revision()


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py: migrate over the connection `upgrade` handed in."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `sekisho migrate`, which opens the service's own database")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_outbox_table_v1() -> None:
    """The outbox table as every producing service first created it. Frozen: a later change is a new function."""
    import sqlalchemy as sa
    from alembic import op

    from shared.database import UtcDateTime

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.String(40)),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("lease_until", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("rejected_at", UtcDateTime, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_message"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_message_idempotency_key"),
    )
    op.create_index("ix_outbox_message_due", "outbox_message", ["delivered_at", "rejected_at", "next_attempt_at"])


def add_outbox_traceparent_v2() -> None:
    """The outbox's second shape: each message keeps the W3C traceparent of the request that queued it, so that its
    delivery joins that trace (shared/tracing.py). Empty for messages queued while traces are off."""
    import sqlalchemy as sa
    from alembic import op

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("traceparent", sa.String(55), nullable=True))


def drop_outbox_traceparent_v2() -> None:
    from alembic import op

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
