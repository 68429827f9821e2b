"""Hot-path statements: built once with SQLAlchemy Core, run straight on asyncpg on PostgreSQL.

SQLAlchemy's session and execution layers cost about half a millisecond of CPU per statement (measured on
the bench machine: a prebuilt one-row SELECT took 0.74 ms through an AsyncSession and 0.10 ms on asyncpg
itself; opening and closing a session without a statement took 0.32 ms). On a path that runs for every
login that was most of what auth spent beside the password hash. `Prepared` wraps a Core statement built
once at import; `Statements` runs it:

- on PostgreSQL (`Database.direct_reading()` / `direct_transaction()`), compiled once per statement for the
  asyncpg dialect and sent to the driver on a connection of the database's own asyncpg pool;
- on SQLite, and wherever the caller holds an AsyncSession (`statements_of(session)`), through SQLAlchemy as
  any other statement.

So code written against `Statements` runs the same on both. What goes to the driver is not type-processed:
parameters must be what asyncpg takes as they are (str, int, bool, None and aware datetimes; a naive
datetime is refused, as `UtcDateTime` refuses it), and results come back as the driver gives them (a
timestamptz is an aware UTC datetime, as `UtcDateTime` returns it). Expanding IN parameters are not
supported: name each value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_ASYNCPG = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


def on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call `callback` once, right after this session's transaction commits (never if it rolls back)."""
    event.listen(session.sync_session, "after_commit", lambda _sync_session: callback(), once=True)


class Prepared:
    """A Core statement built once, with named `bindparam()`s, and its asyncpg SQL compiled at first use.

    An INSERT names the `columns` it is given values for (the keys of its parameters), since a bare
    `table.insert()` would render every column of the table.
    """

    def __init__(self, statement: Executable, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: tuple[str, tuple[str, ...]] | None = None
        self._fixed: dict[str, Any] = {}  # values the statement carries itself (the 1 of `failures + 1`)

    def driver_sql(self) -> tuple[str, tuple[str, ...]]:
        """The SQL text for asyncpg ($1, $2 … placeholders) and the parameter name behind each placeholder."""
        if self._compiled is None:
            compiled = cast(
                SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=_ASYNCPG, column_keys=self.columns)
            )
            if compiled.literal_execute_params or compiled.post_compile_params:
                raise ValueError("a prepared statement cannot expand parameters at execution; name each value")
            self._fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
            self._compiled = (str(compiled), tuple(compiled.positiontup or ()))
        return self._compiled

    def driver_args(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and its positional arguments: each named parameter from `params` (a missing one is a
        KeyError, never a silent NULL), the statement's own values for the others."""
        sql, names = self.driver_sql()
        args = [self._fixed[name] if name in self._fixed else params[name] for name in names]
        for name, value in zip(names, args, strict=True):
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError(f"naive datetime for {name!r}; use the clock's aware UTC time")
        return sql, args


class Statements(Protocol):
    """What a hot path needs of a unit of work: run prepared statements, act once it commits."""

    @property
    def dialect(self) -> str: ...

    async def one_or_none(self, prepared: Prepared, params: Mapping[str, Any]) -> Any: ...

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any]: ...

    async def execute(self, prepared: Prepared, params: Mapping[str, Any]) -> None: ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once right after the transaction commits (never on a rollback). Writes, and so their
        callbacks, belong in a transaction: `direct_reading()` runs none."""


class SessionStatements:
    """`Statements` over an AsyncSession (SQLite, or a caller already inside a session's transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def one_or_none(self, prepared: Prepared, params: Mapping[str, Any]) -> Any:
        return (await self.session.execute(prepared.statement, params)).first()

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any]:
        return (await self.session.execute(prepared.statement, params)).all()

    async def execute(self, prepared: Prepared, params: Mapping[str, Any]) -> None:
        await self.session.execute(prepared.statement, params)

    def on_commit(self, callback: Callable[[], None]) -> None:
        on_commit(self.session, callback)


class DriverRow:
    """A result row of the driver that reads like SQLAlchemy's: by attribute, by position, or unpacked."""

    __slots__ = ("_record",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, index: int) -> Any:
        return self._record[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._record.values())

    def __len__(self) -> int:
        return len(self._record)


class DriverStatements:
    """`Statements` on one asyncpg connection: in a transaction of `Database.direct_transaction()`, or each
    statement on its own (`direct_reading()`)."""

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.committed: list[Callable[[], None]] = []

    async def one_or_none(self, prepared: Prepared, params: Mapping[str, Any]) -> Any:
        sql, args = prepared.driver_args(params)
        record = await self.connection.fetchrow(sql, *args)
        return None if record is None else DriverRow(record)

    async def all(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any]:
        sql, args = prepared.driver_args(params)
        return [DriverRow(record) for record in await self.connection.fetch(sql, *args)]

    async def execute(self, prepared: Prepared, params: Mapping[str, Any]) -> None:
        sql, args = prepared.driver_args(params)
        await self.connection.execute(sql, *args)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)


def statements_of(session: AsyncSession | Statements) -> Statements:
    """The unit of work a helper was given, as `Statements`: helpers shared by hot paths and ordinary routes
    take either."""
    return SessionStatements(session) if isinstance(session, AsyncSession) else session
