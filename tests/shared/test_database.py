"""Each service's own database: migrations to head, readiness, and (on PostgreSQL) its own schema."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from sekisho.services import migrations_dir
from shared.migrations import head_revision
from shared.settings import SERVICE_NAMES
from tests.harness import Backend, client_for, migrate, running


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrate_brings_each_service_to_head_and_is_repeatable(backend: Backend, service: str) -> None:
    head = head_revision(migrations_dir(service))
    assert head is not None
    assert await migrate(backend, service) == head
    assert await migrate(backend, service) == head


async def test_each_service_keeps_its_tables_in_its_own_place(backend: Backend) -> None:
    for service in SERVICE_NAMES:
        await migrate(backend, service)
    if backend.database_url is None:
        assert sorted(p.name for p in backend.data_dir.glob("*.db")) == sorted(f"{s}.db" for s in SERVICE_NAMES)
        return
    dsn = make_url(backend.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'alembic_version' AND table_schema LIKE $1",
            backend.schema_prefix + "%",
        )
    finally:
        await conn.close()
    assert sorted(r["table_schema"] for r in rows) == sorted(backend.schema_prefix + s for s in SERVICE_NAMES)


async def test_readyz_reports_the_database_and_refuses_before_migration(backend: Backend) -> None:
    from services.notify.app import create_app

    app = create_app(backend.settings("notify"))
    async with running(app), client_for(app) as client:
        before = await client.get("/readyz")
        await migrate(backend, "notify")
        after = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert before.status_code == 503
    assert before.json()["code"] == "not_ready"
    assert before.json()["database"]["revision"] is None
    assert after.status_code == 200
    assert after.json()["database"] == {
        "dialect": "sqlite" if backend.database_url is None else "postgresql",
        "schema": None if backend.database_url is None else backend.schema_prefix + "notify",
        "head": head_revision(migrations_dir("notify")),
        "revision": head_revision(migrations_dir("notify")),
        "ok": True,
    }
    assert alive.json() == {"status": "alive", "service": "notify"}


async def test_readyz_says_not_ready_when_the_database_does_not_answer(backend: Backend) -> None:
    from services.fraud.app import create_app

    if backend.database_url is None:
        (backend.data_dir / "fraud.db").write_bytes(b"not a database" * 100)
        settings = backend.settings("fraud")
    else:
        url = make_url(backend.database_url).set(port=1).render_as_string(hide_password=False)
        settings = backend.settings("fraud", database_url=url)
    app = create_app(settings)
    async with running(app), client_for(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False


async def test_work_inside_a_savepoint_is_undone_with_its_transaction(backend: Backend) -> None:
    """On SQLite the driver used to commit a savepoint opened before any write: a crash then split a unit of work."""
    from sqlalchemy import text

    from shared.database import Database, target_for

    await migrate(backend, "notify")
    database = Database(target_for(backend.settings("notify"), "notify"), pool_size=1)

    async def unit_of_work() -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            async with session.begin_nested():
                await session.execute(
                    text("INSERT INTO preference (customer_id, sms, updated_at) VALUES ('c1', true, '2026-01-01')")
                )
            raise RuntimeError("the rest of the unit of work failed")

    try:
        with pytest.raises(RuntimeError):
            await unit_of_work()
        async with database.transaction() as session:
            count = (await session.execute(text("SELECT count(*) FROM preference"))).scalar()
    finally:
        await database.dispose()
    assert count == 0
