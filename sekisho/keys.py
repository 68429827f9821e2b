"""`sekisho keys rotate|status`: re-encrypting personal data under a new data key while the services keep serving.

The procedure (README "Rotating the data key"): the operator puts a new key first in SEKISHO_DATA_KEYS, the old
ones after it, and restarts the services: from then on they seal with the new key and still open with every key.
`sekisho keys rotate` then re-encrypts, in batches, every value of every sealed column (services/<service>/sealed.py)
that is not under the first key. Each value is written with a compare-and-set on the value read (UPDATE … WHERE
pk = ? AND column = old): a value a running service changed in between is left as the service wrote it, counted as
skipped, and a later run picks it up if it still needs it. Each batch commits on its own, so an interrupted run
loses nothing and the next one resumes where values remain; two runs at once only skip each other's values.
`sekisho keys status` counts the values under each key id, so the operator knows when an old key can be dropped.
Blind indexes have their own key (SEKISHO_BLIND_INDEX_KEY) and are never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from sqlalchemy import ColumnElement, and_, case, column, func, literal, not_, select, table, update

from sekisho.services import migrations_dir, settings_class
from shared.crypto import DecryptionError, FieldCipher, parse_keys
from shared.database import Database, target_for
from shared.migrations import head_revision
from shared.sealed_columns import SealedColumn
from shared.settings import SERVICE_NAMES, ServiceSettings

DEFAULT_BATCH_SIZE = 100
_NOT_SEALED = "-"  # the key id status shows for a value that is not a sealed value at all

# A test hook: called with a batch's rows after they are read and re-encrypted, before they are written.
BeforeWrite = Callable[[SealedColumn, Sequence[Mapping[str, Any]]], Awaitable[None]]


def sealed_columns(service: str) -> tuple[SealedColumn, ...]:
    """The service's registry (services/<service>/sealed.py)."""
    module = importlib.import_module(f"services.{service}.sealed")
    columns: tuple[SealedColumn, ...] = module.SEALED_COLUMNS
    return columns


@dataclass
class ColumnRotation:
    """What a run did to one sealed column."""

    service: str
    table: str
    column: str
    rotated: int = 0  # re-encrypted under the first key
    skipped: int = 0  # changed by a service between the read and the write: left as it was written
    unreadable: int = 0  # under a key not in SEKISHO_DATA_KEYS, or not a sealed value of this column
    remaining: int = 0  # still not under the first key

    @property
    def done(self) -> int:
        return self.rotated + self.skipped + self.unreadable


@dataclass
class RotationReport:
    key_id: str
    columns: list[ColumnRotation] = field(default_factory=list)
    stopped_at_limit: bool = False

    def total(self, name: str) -> int:
        return sum(int(getattr(entry, name)) for entry in self.columns)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "rotated": self.total("rotated"),
            "skipped": self.total("skipped"),
            "unreadable": self.total("unreadable"),
            "remaining": self.total("remaining"),
            "stopped_at_limit": self.stopped_at_limit,
            "columns": [asdict(entry) for entry in self.columns],
        }


def _table(sealed: SealedColumn) -> Any:
    names = dict.fromkeys((sealed.primary_key, sealed.column, *sealed.context_columns))
    return table(sealed.table, *(column(name) for name in names))


def _not_under(sealed_table: Any, sealed: SealedColumn, key_id: str) -> ColumnElement[bool]:
    value = sealed_table.c[sealed.column]
    return and_(value.is_not(None), not_(value.startswith(f"v1.{key_id}.", autoescape=True)))


async def _remaining(database: Database, sealed: SealedColumn, key_id: str) -> int:
    sealed_table = _table(sealed)
    query = select(func.count()).select_from(sealed_table).where(_not_under(sealed_table, sealed, key_id))
    async with database.reading() as session:
        return int((await session.execute(query)).scalar_one())


async def rotate_column(
    database: Database,
    service: str,
    sealed: SealedColumn,
    cipher: FieldCipher,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    progress: Callable[[ColumnRotation], None] = lambda _: None,
    before_write: BeforeWrite | None = None,
) -> ColumnRotation:
    """Re-encrypts the column's values not under `cipher.current`, in primary-key order, one batch a transaction;
    at most `limit` values (None: all). Each row is visited once a run, so a run ends even when values stay behind."""
    entry = ColumnRotation(service, sealed.table, sealed.column)
    entry.remaining = await _remaining(database, sealed, cipher.current)
    sealed_table = _table(sealed)
    pk, value = sealed_table.c[sealed.primary_key], sealed_table.c[sealed.column]
    after: Any = None
    while entry.remaining and (limit is None or entry.done < limit):
        size = batch_size if limit is None else min(batch_size, limit - entry.done)
        query = select(*sealed_table.c).where(_not_under(sealed_table, sealed, cipher.current)).order_by(pk)
        if after is not None:
            query = query.where(pk > after)
        async with database.reading() as session:
            rows: list[dict[str, Any]] = [dict(row) for row in (await session.execute(query.limit(size))).mappings()]
        if not rows:
            break
        after = rows[-1][sealed.primary_key]
        writes: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            context = sealed.context_of(row)
            try:
                writes.append((row, cipher.seal(cipher.open(row[sealed.column], context=context), context=context)))
            except DecryptionError:
                entry.unreadable += 1
        if before_write is not None:
            await before_write(sealed, rows)
        async with database.transaction() as session:
            for written_row, new in writes:
                unchanged = [
                    sealed_table.c[name] == written_row[name] for name in (sealed.column, *sealed.context_columns)
                ]
                written = await session.execute(
                    update(sealed_table).where(pk == written_row[pk.name], *unchanged).values({value.name: new})
                )
                if written.rowcount == 1:  # type: ignore[attr-defined]
                    entry.rotated += 1
                else:
                    entry.skipped += 1
        entry.remaining = max(entry.remaining - len(rows), 0)
        progress(entry)
    entry.remaining = await _remaining(database, sealed, cipher.current)
    return entry


async def rotate(
    databases: Mapping[str, Database],
    cipher: FieldCipher,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    progress: Callable[[ColumnRotation], None] = lambda _: None,
    before_write: BeforeWrite | None = None,
) -> RotationReport:
    """Every sealed column of each service's database to `cipher.current`; at most `limit` values in all."""
    report = RotationReport(cipher.current)
    for service, database in databases.items():
        for sealed in sealed_columns(service):
            left = None if limit is None else max(limit - report.total("done"), 0)
            report.columns.append(
                await rotate_column(
                    database,
                    service,
                    sealed,
                    cipher,
                    batch_size=batch_size,
                    limit=left,
                    progress=progress,
                    before_write=before_write,
                )
            )
    report.stopped_at_limit = limit is not None and report.total("done") >= limit and report.total("remaining") > 0
    return report


@dataclass
class ColumnStatus:
    service: str
    table: str
    column: str
    by_key: dict[str, int]  # key id -> values under it ("-": not a sealed value)


async def column_status(database: Database, service: str, sealed: SealedColumn) -> ColumnStatus:
    sealed_table = _table(sealed)
    value = sealed_table.c[sealed.column]
    if database.target.dialect == "postgresql":
        key_id: Any = func.split_part(value, ".", 2)
    else:
        key_id = func.substr(value, 4, func.instr(func.substr(value, 4), ".") - 1)
    labelled = (
        select(case((value.like("v1.%.%"), key_id), else_=literal(_NOT_SEALED)).label("key_id"))
        .where(value.is_not(None))
        .subquery()
    )
    query = select(labelled.c.key_id, func.count()).group_by(labelled.c.key_id).order_by(labelled.c.key_id)
    async with database.reading() as session:
        counts = {str(kid): int(count) for kid, count in (await session.execute(query)).all()}
    return ColumnStatus(service, sealed.table, sealed.column, counts)


async def status(databases: Mapping[str, Database]) -> list[ColumnStatus]:
    return [
        await column_status(database, service, sealed)
        for service, database in databases.items()
        for sealed in sealed_columns(service)
    ]


# The command line.


def _data_keys(settings: ServiceSettings) -> str:
    """The service's SEKISHO_DATA_KEYS; on a local run (SQLite) without it, the dev keys `sekisho up` keeps."""
    if settings.data_keys is not None:
        return settings.data_keys.get_secret_value()
    if settings.database_url:
        raise LookupError("SEKISHO_DATA_KEYS is not set: give the command the services' data keys")
    from sekisho.cli import dev_data_keys

    return dev_data_keys(settings.data_dir)


async def _open_databases(services: Sequence[str] | None) -> tuple[dict[str, Database], dict[str, str]]:
    """Each service's database (at head, or LookupError) and its SEKISHO_DATA_KEYS, from its settings."""
    databases: dict[str, Database] = {}
    keys: dict[str, str] = {}
    try:
        for service in services or SERVICE_NAMES:
            settings: ServiceSettings = settings_class(service)()
            keys[service] = _data_keys(settings)
            database = Database(target_for(settings, service), pool_size=1)
            databases[service] = database
            if await database.revision() != head_revision(migrations_dir(service)):
                raise LookupError(f"the {service} database is not migrated: run `sekisho migrate {service}` first")
    except BaseException:
        await _dispose(databases)
        raise
    return databases, keys


async def _dispose(databases: Mapping[str, Database]) -> None:
    for database in databases.values():
        await database.dispose()


class RotationProgress:
    """One line per batch on stderr: `auth customer.email: 100 re-encrypted, 0 skipped, 0 unreadable; 250 left`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, entry: ColumnRotation) -> None:
        self._stream.write(
            f"{entry.service} {entry.table}.{entry.column}: {entry.rotated} re-encrypted, {entry.skipped} skipped, "
            f"{entry.unreadable} unreadable; {entry.remaining} left\n"
        )
        self._stream.flush()


async def _rotate_command(args: argparse.Namespace, progress: Callable[[ColumnRotation], None]) -> RotationReport:
    databases, keys = await _open_databases(args.service)
    try:
        if len(set(keys.values())) > 1:
            raise LookupError("the services are given different SEKISHO_DATA_KEYS: give them the same keys first")
        cipher = FieldCipher(parse_keys(next(iter(keys.values()))))
        return await rotate(databases, cipher, batch_size=args.batch_size, limit=args.limit, progress=progress)
    finally:
        await _dispose(databases)


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_rotate_command(args, RotationProgress(sys.stderr)))
    except (LookupError, RuntimeError, ValueError) as exc:
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for entry in report.columns:
            print(
                f"{entry.service:8} {entry.table}.{entry.column}: {entry.rotated} re-encrypted, {entry.skipped} "
                f"skipped, {entry.unreadable} unreadable, {entry.remaining} not under {report.key_id}"
            )
    if report.total("unreadable"):
        print(
            f"sekisho: {report.total('unreadable')} value(s) would not open with any key of SEKISHO_DATA_KEYS "
            "(`sekisho keys status` shows their key ids): put those keys back before dropping any",
            file=sys.stderr,
        )
        return 1
    if report.total("remaining"):
        why = "the --limit was reached" if report.stopped_at_limit else "services changed some values meanwhile"
        print(f"sekisho: {report.total('remaining')} value(s) left ({why}): run it again", file=sys.stderr)
    elif not args.json:
        print(f"every sealed value is under {report.key_id}: the older keys can be dropped (`sekisho keys status`)")
    return 0


async def _status_command(args: argparse.Namespace) -> tuple[list[ColumnStatus], dict[str, str]]:
    databases, keys = await _open_databases(args.service)
    try:
        return await status(databases), keys
    finally:
        await _dispose(databases)


def cmd_keys_status(args: argparse.Namespace) -> int:
    try:
        columns, keys = asyncio.run(_status_command(args))
    except (LookupError, RuntimeError, ValueError) as exc:
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    listed = {service: list(parse_keys(spec)) for service, spec in keys.items()}
    if args.json:
        print(json.dumps({"keys": listed, "columns": [asdict(entry) for entry in columns]}, indent=2))
        return 0
    old: dict[str, int] = {}
    for entry in columns:
        current = listed[entry.service][0]
        counts = ", ".join(f"{kid}: {count}" for kid, count in entry.by_key.items()) or "no values"
        print(f"{entry.service:8} {entry.table}.{entry.column}: {counts}")
        for kid, count in entry.by_key.items():
            if kid != current and count:
                old[kid] = old.get(kid, 0) + count
    currents = sorted({names[0] for names in listed.values()})
    if old:
        left = ", ".join(f"{kid} ({count} values)" for kid, count in sorted(old.items()))
        print(f"still in use besides {', '.join(currents)}: {left}; run `sekisho keys rotate` before dropping them")
    else:
        print(
            f"every sealed value is under {', '.join(currents)}: the other keys can be dropped from SEKISHO_DATA_KEYS"
        )
    return 0


def add_commands(commands: Any) -> None:
    """`sekisho keys rotate|status` in the command line's parser (`commands`: its subparsers)."""
    keys = commands.add_parser("keys", help="the data keys personal data is sealed with (DATA-2): rotation")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate_parser = keys_commands.add_parser(
        "rotate", help="re-encrypt every sealed value not under the first key of SEKISHO_DATA_KEYS, in batches"
    )
    rotate_parser.add_argument(
        "--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE, help=f"values a transaction ({DEFAULT_BATCH_SIZE})"
    )
    rotate_parser.add_argument("--limit", type=_positive, help="stop after N values (run it again to go on)")
    rotate_parser.set_defaults(func=cmd_keys_rotate)
    status_parser = keys_commands.add_parser("status", help="how many values are under each key id, per column")
    status_parser.set_defaults(func=cmd_keys_status)
    for parser in (rotate_parser, status_parser):
        parser.add_argument(
            "--service", action="append", choices=SERVICE_NAMES, help="only this service (repeatable; default: all)"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("give a number of 1 or more")
    return number
