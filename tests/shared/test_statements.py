"""Prepared statements run straight on the driver (PostgreSQL) or through a session (SQLite): the same results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select

from services.auth import models
from shared.database import Database, target_for
from shared.statements import Prepared
from tests.harness import Backend, migrate

t = models.ip_throttle
INSERT = Prepared(t.insert(), columns=("id", "failures", "window_started_at"))
BY_ID = Prepared(select(t).where(t.c.id == bindparam("key")))
FROM = Prepared(select(t.c.id).where(t.c.window_started_at >= bindparam("since")).order_by(t.c.id))
BUMP = Prepared(t.update().where(t.c.id == bindparam("key")).values(failures=t.c.failures + 1).returning(t.c.failures))
AT = datetime(2026, 11, 28, 21, 0, 5, 123456, tzinfo=UTC)


@pytest.fixture
async def database(backend: Backend) -> AsyncIterator[Database]:
    await migrate(backend, "auth")
    db = Database(target_for(backend.settings("auth"), "auth"), pool_size=2)
    try:
        yield db
    finally:
        await db.dispose()


async def test_rows_read_back_as_written_with_attribute_access_and_aware_utc_times(database: Database) -> None:
    async with database.direct_transaction() as statements:
        await statements.execute(INSERT, {"id": "ip:a", "failures": 3, "window_started_at": AT})
        await statements.execute(INSERT, {"id": "ip:b", "failures": 0, "window_started_at": AT + timedelta(hours=1)})
        bumped = await statements.one_or_none(BUMP, {"key": "ip:a"})
    async with database.direct_reading() as statements:
        row = await statements.one_or_none(BY_ID, {"key": "ip:a"})
        missing = await statements.one_or_none(BY_ID, {"key": "ip:nobody"})
        later = await statements.all(FROM, {"since": AT + timedelta(minutes=1)})
    assert bumped.failures == 4
    assert (row.id, row.failures, row.window_started_at) == ("ip:a", 4, AT)
    assert row.window_started_at.utcoffset() == timedelta(0)
    assert missing is None
    assert [r.id for r in later] == ["ip:b"]
    key, failures, started = row  # unpacked, and by position, as a SQLAlchemy row
    assert (key, failures, started, row[1], len(row)) == ("ip:a", 4, AT, 4, 3)
    with pytest.raises(AttributeError):
        _ = row.no_such_column
    async with database.reading() as session:  # what SQLAlchemy reads agrees
        assert (await session.execute(select(t.c.failures).where(t.c.id == "ip:a"))).scalar_one() == 4


async def test_a_block_that_raises_writes_nothing_and_its_commit_callbacks_never_run(database: Database) -> None:
    called: list[str] = []

    async def fails_after_its_first_write() -> None:
        async with database.direct_transaction() as statements:
            await statements.execute(INSERT, {"id": "ip:gone", "failures": 1, "window_started_at": AT})
            statements.on_commit(lambda: called.append("gone"))
            raise RuntimeError("the route failed after its first write")

    with pytest.raises(RuntimeError):
        await fails_after_its_first_write()

    async with database.direct_transaction() as statements:
        await statements.execute(INSERT, {"id": "ip:kept", "failures": 1, "window_started_at": AT})
        statements.on_commit(lambda: called.append("kept"))
        assert called == []  # not before the commit
    assert called == ["kept"]
    async with database.direct_reading() as statements:
        assert await statements.one_or_none(BY_ID, {"key": "ip:gone"}) is None
        assert await statements.one_or_none(BY_ID, {"key": "ip:kept"}) is not None


async def test_a_naive_datetime_is_refused_and_nothing_is_written(database: Database) -> None:
    naive = {"id": "ip:naive", "failures": 1, "window_started_at": AT.replace(tzinfo=None)}

    async def write_naive() -> None:
        async with database.direct_transaction() as statements:
            await statements.execute(INSERT, naive)

    with pytest.raises(Exception, match="naive"):
        await write_naive()
    async with database.direct_reading() as statements:
        assert await statements.one_or_none(BY_ID, {"key": "ip:naive"}) is None


def test_a_statement_that_expands_its_parameters_cannot_be_prepared() -> None:
    expanding = Prepared(select(t).where(t.c.id.in_(bindparam("keys", expanding=True))))
    with pytest.raises(ValueError, match="name each value"):
        expanding.driver_sql()
    assert BY_ID.driver_sql()[1] == ("key",)
    assert "$1" in BY_ID.driver_sql()[0]
