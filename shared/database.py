"""One database per service: a SQLite file (embedded mode) or a PostgreSQL schema (production mode).

The same SQLAlchemy 2 async code runs on both. On PostgreSQL every connection's `search_path` is the
service's own schema, so a service cannot name another's tables by accident (ARCHITECTURE "Data").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import DateTime, Dialect, MetaData, Table, event, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from shared.settings import ServiceSettings

# on_commit lives beside Statements, which uses it too; services import it from here, with the database.
from shared.statements import DriverStatements, SessionStatements, Statements
from shared.statements import on_commit as on_commit

# Stable constraint names, so that migrations written on SQLite and PostgreSQL agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on PostgreSQL (timestamptz) and on SQLite (ISO text) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use the clock's aware UTC time")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_metadata() -> MetaData:
    """The MetaData a service's models hang on; tables are unqualified, the schema comes from the connection."""
    return MetaData(naming_convention=NAMING_CONVENTION)


_SQLITE_URL = "sqlite+aiosqlite:///"


@dataclass(frozen=True)
class DatabaseTarget:
    url: str
    schema: str | None  # None on SQLite

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def sqlite_path(self) -> Path:
        """The database file of an SQLite target."""
        return Path(self.url.removeprefix(_SQLITE_URL))


def target_for(settings: ServiceSettings, service: str) -> DatabaseTarget:
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.get_backend_name() != "postgresql":
            raise ValueError("SEKISHO_DATABASE_URL must be a PostgreSQL URL; leave it unset for embedded SQLite")
        url = url.set(drivername="postgresql+asyncpg")
        return DatabaseTarget(url.render_as_string(hide_password=False), settings.database_schema_prefix + service)
    data_dir = Path(settings.data_dir).resolve()
    return DatabaseTarget(f"{_SQLITE_URL}{data_dir / (service + '.db')}", None)


def _on_sqlite_connect(dbapi_connection: Any, _: Any) -> None:
    # The driver's own transaction handling begins lazily and mishandles SAVEPOINT (a savepoint opened
    # before any write commits on release); SQLAlchemy's recipe: the driver stays out, we BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; the busy timeout makes writers queue instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


async def insert_new(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose primary key `id` is not stored yet, in one statement; the ids actually inserted.

    ON CONFLICT DO NOTHING: a redelivery, or a concurrent one that stored a row first, changes nothing.
    """
    if not rows:
        return set()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    unique = list({row["id"]: row for row in rows}.values())
    statement = insert(table).values(unique).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    return set((await session.execute(statement)).scalars())


def _begin_immediately(connection: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN, where the busy timeout applies; a deferred transaction that
    # read first and writes later fails at once with SQLITE_BUSY when another writer got there in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """The direct pool's reset on release: asyncpg still rolls back a transaction left open; its default reset
    adds a round trip per release (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL) for state that direct
    statements never create: they take no advisory lock, keep no cursor, never LISTEN and never SET."""


class Database:
    """A service's engine and sessions. Built in the app's lifespan, disposed there."""

    def __init__(
        self, target: DatabaseTarget, *, pool_size: int = 10, server_settings: Mapping[str, str] | None = None
    ) -> None:
        """`server_settings`: PostgreSQL settings for every connection of this engine (ignored on SQLite)."""
        self.target = target
        self._pool_size = pool_size
        self._server_settings = {**(server_settings or {}), "search_path": target.schema or ""}
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_pool_lock = asyncio.Lock()
        if target.schema is None:
            target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(target.url)
            event.listen(self.engine.sync_engine, "connect", _on_sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _begin_immediately)
        else:
            self.engine = create_async_engine(
                target.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                # No ping per checkout (a round trip on every transaction); connections are recycled instead,
                # and one broken by a server restart is invalidated by SQLAlchemy on its first error.
                pool_recycle=300,
                connect_args={"server_settings": self._server_settings},
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._autocommit = (
            None
            if target.schema is None
            else async_sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"), autoflush=False)
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed once if the block succeeds, rolled back if anything raises."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Reads that need no snapshot: on PostgreSQL each statement runs on its own (no BEGIN, no COMMIT,
        two round trips fewer); on SQLite a transaction as usual. Never write through it."""
        if self._autocommit is None:
            async with self.transaction() as session:
                yield session
            return
        async with self._autocommit() as session:
            yield session

    @property
    def parallel_reads(self) -> bool:
        """Whether two `reading()` sessions can wait on the database at the same time (PostgreSQL; on SQLite a
        reading holds the write lock, so a second would only queue behind it)."""
        return self._autocommit is not None

    @asynccontextmanager
    async def one_statement(self) -> AsyncIterator[AsyncSession]:
        """For one write that is atomic by itself (a single INSERT): on PostgreSQL it commits on its own, without
        BEGIN and COMMIT; on SQLite a transaction as usual. More than one write belongs in `transaction()`."""
        async with self.reading() as session:
            yield session

    @asynccontextmanager
    async def direct_reading(self) -> AsyncIterator[Statements]:
        """`reading()` for prepared statements (shared/statements.py): on PostgreSQL straight on asyncpg, each
        statement on its own; on SQLite through a session as usual."""
        if self.target.schema is None:
            async with self.reading() as session:
                yield SessionStatements(session)
            return
        pool = await self._driver()
        async with pool.acquire() as connection:
            yield DriverStatements(connection)

    @asynccontextmanager
    async def direct_statement(self) -> AsyncIterator[Statements]:
        """`one_statement()` for prepared statements: one write atomic by itself, committed on its own on PostgreSQL
        (straight on asyncpg, no BEGIN and COMMIT); on SQLite a transaction as usual."""
        if self.target.schema is None:
            async with self.one_statement() as session:
                yield SessionStatements(session)
            return
        pool = await self._driver()
        async with pool.acquire() as connection:
            yield DriverStatements(connection)

    @asynccontextmanager
    async def direct_transaction(self) -> AsyncIterator[Statements]:
        """`transaction()` for prepared statements: committed once if the block succeeds, then the `on_commit`
        callbacks run; rolled back if anything raises."""
        if self.target.schema is None:
            async with self.transaction() as session:
                yield SessionStatements(session)
            return
        pool = await self._driver()
        async with pool.acquire() as connection:
            statements = DriverStatements(connection)
            async with connection.transaction():
                yield statements
        for callback in statements.committed:
            callback()

    async def _driver(self) -> asyncpg.Pool:
        """The asyncpg pool of the direct statements, opened at first use (most services never use it)."""
        if self._driver_pool is not None:  # every direct unit of work asks: no lock once it is open
            return self._driver_pool
        async with self._driver_pool_lock:
            if self._driver_pool is None:
                dsn = make_url(self.target.url).set(drivername="postgresql").render_as_string(hide_password=False)
                self._driver_pool = await asyncpg.create_pool(
                    dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    server_settings=self._server_settings,
                    reset=_keep_session_state,
                )
            return self._driver_pool

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def revision(self) -> str | None:
        """The Alembic revision this database is at, or None before the first migration."""
        async with self.engine.connect() as conn:
            if not await conn.run_sync(lambda sync_conn: inspect(sync_conn).has_table("alembic_version")):
                return None
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        return None if row is None else str(row[0])

    async def dispose(self) -> None:
        if self._driver_pool is not None:
            await self._driver_pool.close()
        await self.engine.dispose()


async def owned_row(
    session: AsyncSession,
    table: Table,
    row_id: str,
    *,
    customer_id: str | None,
    for_update: bool,
    missing: Exception,
) -> Any:
    """The row of `table` with this id; for a customer, only their own: another's is `missing`, exactly as a row
    that does not exist (no telling the two apart)."""
    query = select(table).where(table.c.id == row_id)
    if customer_id is not None:
        query = query.where(table.c.customer_id == customer_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise missing
    return row
