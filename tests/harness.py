"""Builds sekisho for tests: settings on SQLite or PostgreSQL, migrated services, and the system wired in-process."""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import functools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from sekisho.services import migrations_dir, settings_class
from services.gateway.routes import RouteTable
from shared.clock import Clock, FrozenClock
from shared.database import Database, target_for
from shared.identity import IdentityIssuer, IdentityVerifier
from shared.migrations import upgrade
from shared.settings import SERVICE_NAMES, ServiceSettings
from tests import openapi_recorder

TEST_DATA_KEYS = "t1:" + "A" * 43  # 32 zero bytes, base64url: a fixed key is fine for tests
TEST_BLIND_INDEX_KEY = (
    "ti1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"  # 32 bytes of 0x01: its own key, not derived from a data key
)
_SIGNING_KEY: list[str] = []


@functools.cache
def identity_keys_for_tests() -> dict[str, str]:
    """Every service's own identity key (private PEM), made once per test run."""
    from shared.identity_keys import new_identity_key

    return {service: new_identity_key()[0] for service in SERVICE_NAMES}


@functools.cache
def identity_public_keys_for_tests() -> dict[str, list[str]]:
    """SEKISHO_IDENTITY_PUBLIC_KEYS of a test system: every service's public key."""
    from shared.tokens import load_private_key, public_pem

    return {service: [public_pem(load_private_key(pem))] for service, pem in identity_keys_for_tests().items()}


def identity_issuer(service: str, clock: Clock, ttl_seconds: int = 60) -> IdentityIssuer:
    """Mints identities as `service` of a test system (with that service's key alone), e.g. to call a service's
    app directly the way another service would."""
    return IdentityIssuer(service=service, key=identity_keys_for_tests()[service], clock=clock, ttl_seconds=ttl_seconds)


def identity_verifier(service: str, clock: Clock) -> IdentityVerifier:
    """Checks identities presented to `service` of a test system, as its middleware does."""
    return IdentityVerifier(service=service, public_keys=identity_public_keys(), clock=clock)


def identity_public_keys() -> dict[str, list[Ed25519PublicKey]]:
    from shared.identity_keys import load_public_keys

    return load_public_keys(identity_public_keys_for_tests(), SERVICE_NAMES)


def identity_env(service: str) -> dict[str, str]:
    """The environment that gives a service process of a test system its identity key and everyone's public keys."""
    return {
        "SEKISHO_IDENTITY_KEY": identity_keys_for_tests()[service],
        "SEKISHO_IDENTITY_PUBLIC_KEYS": json.dumps(identity_public_keys_for_tests()),
    }


def signing_key_for_tests() -> str:
    """One Ed25519 key per test run for auth's access tokens."""
    if not _SIGNING_KEY:
        from shared.tokens import new_signing_key

        _SIGNING_KEY.append(new_signing_key()[0])
    return _SIGNING_KEY[0]


@dataclass
class Backend:
    """Where a test's databases live: SQLite files in a temp dir, or fresh PostgreSQL schemas."""

    name: str
    data_dir: Path
    database_url: str | None = None
    schema_prefix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # PostgreSQL: the schemas were made at head from the run's migrated template (copy_template), not migrated.
    from_template: bool = False

    def settings(self, service: str, /, **overrides: Any) -> ServiceSettings:
        # Validating settings (keys parsed, the environment read) takes 5-10 ms, seven times a system: the same
        # ones are validated once per run when every override is a plain value, and only the test's own data
        # directory put in (no validator reads it). The environment is part of what makes them the same.
        if not all(_plain(value) for value in overrides.values()):
            return self._settings(service, **overrides)
        environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SEKISHO_")))
        key = (self.database_url, self.schema_prefix, service, repr(sorted(overrides.items())), repr(environment))
        if key not in _settings_made:
            _settings_made[key] = self._settings(service, **overrides)
        return _settings_made[key].model_copy(update={"data_dir": overrides.get("data_dir", self.data_dir)})

    def _settings(self, service: str, /, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "env": "test",
            "identity_key": identity_keys_for_tests()[service],
            "identity_public_keys": identity_public_keys_for_tests(),
            "data_keys": TEST_DATA_KEYS,
            "blind_index_key": TEST_BLIND_INDEX_KEY,
            "data_dir": self.data_dir,
            "database_url": self.database_url,
            "database_schema_prefix": self.schema_prefix,
            "log_json": False,
            "database_pool_size": 2,
        }
        if service == "auth":
            values["auth_signing_key"] = signing_key_for_tests()
        values.update(overrides)
        cls: type[ServiceSettings] = settings_class(service)
        return cls(**values)


_settings_made: dict[tuple[str | None, ...], ServiceSettings] = {}  # see Backend.settings


def _plain(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    return value is None or isinstance(value, str | int | float | bool | Path)


def new_backend(name: str, tmp_path: Path, postgres_url: str | None) -> Backend:
    if name == "sqlite":
        return Backend("sqlite", tmp_path)
    assert postgres_url is not None
    return Backend("postgres", tmp_path, postgres_url, f"t{secrets.token_hex(4)}_")


_template_sql: dict[str, str] = {}  # the server's URL -> the SQL of every service's schema at head, prefix marked
_MARK = "sekishotemplatemark_"


async def _template(url: str) -> str:
    """Every service migrated once per process under a marked prefix, dumped as SQL (pg_dump, schemas and rows)
    and dropped: a test system's schemas are that SQL under its own prefix, one round trip where migrating six
    services took about 1.3 s a test. tests/shared/test_database.py and the migration tests still migrate."""
    if url in _template_sql:
        return _template_sql[url]
    prefix = f"{_MARK}{secrets.token_hex(4)}_"
    template = Backend("postgres", Path(tempfile.gettempdir()), url, prefix)
    try:
        for service in SERVICE_NAMES:
            await migrate(template, service)
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise RuntimeError("the PostgreSQL tests need pg_dump (Debian: postgresql-client), beside psql")
        command = [pg_dump, "--no-owner", "--no-privileges", "--inserts", "--schema", f"{prefix}*", _dsn(url)]
        dumped = (
            await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True, timeout=120)
        ).stdout
    finally:
        await drop_schemas(template)
    # psql's meta-commands (\restrict …) are not SQL; the prefix becomes a marker to put each test's in its place.
    sql = "\n".join(line for line in dumped.splitlines() if not line.startswith("\\")).replace(prefix, _MARK)
    _template_sql[url] = sql
    return sql


class _SchemaPool:
    """Schemas made from the template ahead of the tests that take them, and dropped after them, by a thread of its
    own: the server does that work while a test runs instead of before and after it (about 1 s a test when waited
    for, on a loaded 2-core machine). Every test still gets schemas nobody used before."""

    AHEAD = 2  # systems made ready before they are asked for

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.ready: collections.deque[concurrent.futures.Future[str]] = collections.deque()
        self.pending: list[concurrent.futures.Future[None]] = []
        self._lock: asyncio.Lock | None = None
        threading.Thread(target=self.loop.run_forever, name="sekisho-test-schemas", daemon=True).start()

    def _submit(self, work: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def _serialized(self, work: Callable[[asyncpg.Connection], Any]) -> Any:
        # One piece of DDL at a time on the pool's side (and the template made once), on a connection of its own.
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = await asyncpg.connect(_dsn(self.url))
            try:
                return await work(conn)
            finally:
                await conn.close()

    async def _make(self) -> str:
        prefix = f"t{secrets.token_hex(4)}_"

        async def make(conn: asyncpg.Connection) -> str:
            sql = await _template(self.url)
            await conn.execute(sql.replace(_MARK, prefix))
            return prefix

        made: str = await self._serialized(make)
        return made

    async def _drop(self, prefix: str) -> None:
        async def drop(conn: asyncpg.Connection) -> None:
            for service in SERVICE_NAMES:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{prefix}{service}" CASCADE')

        await self._serialized(drop)

    async def take(self) -> str:
        while len(self.ready) <= self.AHEAD:
            self.ready.append(self._submit(self._make()))
        prefix: str = await asyncio.wrap_future(self.ready.popleft())
        return prefix

    def drop_later(self, prefix: str) -> None:
        self.pending = [done for done in self.pending if not done.done()]
        self.pending.append(self._submit(self._drop(prefix)))

    def close(self) -> None:
        """At the end of the run: the drops still queued done, and the schemas made for no test dropped."""
        for made in self.ready:
            try:
                self.pending.append(self._submit(self._drop(made.result(timeout=60))))
            except Exception:  # noqa: BLE001, S112 - a schema that was never made needs no drop
                continue
        concurrent.futures.wait(self.pending, timeout=120)
        self.loop.call_soon_threadsafe(self.loop.stop)


_pools: dict[str, _SchemaPool] = {}


def _pool(url: str) -> _SchemaPool:
    if url not in _pools:
        _pools[url] = _SchemaPool(url)
        atexit.register(_pools[url].close)
    return _pools[url]


async def copy_template(backend: Backend) -> None:
    """On PostgreSQL, every service's schema at head under a prefix of its own, made from the template ahead of
    time (the backend takes that prefix); nothing on SQLite or when done already."""
    if backend.database_url is None or backend.from_template:
        return
    conn = await asyncpg.connect(_dsn(backend.database_url))
    try:
        made = await conn.fetchval(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ANY($1::text[])",
            [f"{backend.schema_prefix}{service}" for service in SERVICE_NAMES],
        )
    finally:
        await conn.close()
    if made:
        return  # a test that made a schema itself (an older revision, to upgrade): migrated as usual
    backend.schema_prefix = await _pool(backend.database_url).take()
    backend.from_template = True


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def drop_schemas(backend: Backend) -> None:
    if backend.database_url is None:
        return
    if backend.from_template:
        _pool(backend.database_url).drop_later(backend.schema_prefix)  # the test's connections are closed by now
        return
    dsn = make_url(backend.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for service in SERVICE_NAMES:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{backend.schema_prefix}{service}" CASCADE')
    finally:
        await conn.close()


async def migrate(backend: Backend, service: str) -> str | None:
    database = Database(target_for(backend.settings(service), service), pool_size=1)
    try:
        return await upgrade(database, migrations_dir(service))
    finally:
        await database.dispose()


_TEMPLATED: set[str] = set()  # the services migrated in _sqlite_templates()


@functools.cache
def _sqlite_templates() -> Path:
    """The directory of the SQLite databases migrated once per test run."""
    path = Path(tempfile.mkdtemp(prefix="sekisho-migrated-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _new_sqlite_file(backend: Backend, service: str) -> Path | None:
    """Where the service's SQLite database is to be made; None on PostgreSQL or when it exists."""
    if backend.database_url is not None:
        return None
    path = target_for(backend.settings(service), service).sqlite_path
    return None if path.exists() else path


def _copy(template: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


async def migrated(backend: Backend, service: str) -> None:
    """The service's database at head for a test system. On SQLite, a new database is a copy of one migrated
    once per test run (a migration costs about 50 ms a service, six a system); an existing one is migrated as
    usual, and PostgreSQL schemas are migrated. tests/shared/test_database.py tests the migrations themselves."""
    if backend.from_template:
        return  # made at head from the template
    target = _new_sqlite_file(backend, service)
    if target is None:
        await migrate(backend, service)
        return
    if service not in _TEMPLATED:
        await migrate(Backend("sqlite", _sqlite_templates()), service)
        _TEMPLATED.add(service)
    _copy(_sqlite_templates() / f"{service}.db", target)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Runs the app's lifespan (ASGITransport does not)."""
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """A client of the app; of the gateway, one whose every answer is checked against the public OpenAPI document
    (tests/openapi_recorder.py)."""
    hooks: dict[str, list[Callable[[httpx.Response], Any]]] = {}
    if isinstance(getattr(app.state, "routes", None), RouteTable):
        hooks["response"] = [openapi_recorder.hook(app.state.routes)]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url=base_url, event_hooks=hooks
    )


@dataclass
class System:
    """Every service running in-process; internal calls go through ASGI transports instead of sockets."""

    apps: dict[str, FastAPI]
    clock: Clock
    gateway: httpx.AsyncClient


@asynccontextmanager
async def in_process_system(
    backend: Backend,
    overrides: Mapping[str, dict[str, Any]] | None = None,
    clock: Clock | None = None,
    gateway_transports: Callable[[dict[str, httpx.AsyncBaseTransport]], dict[str, httpx.AsyncBaseTransport]]
    | None = None,
) -> AsyncIterator[System]:
    """`gateway_transports`: given the services' transports, those the gateway reaches them through (a test
    that takes fraud down, or counts what reaches a service, wraps them)."""
    from services.gateway.app import create_app as gateway_app

    clock = clock or FrozenClock()
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    apps: dict[str, FastAPI] = {}
    await copy_template(backend)
    for service in SERVICE_NAMES:
        await migrated(backend, service)
    for service in SERVICE_NAMES:
        if service == "gateway":
            continue
        module = __import__(f"services.{service}.app", fromlist=["create_app"])
        settings = backend.settings(service, **(overrides or {}).get(service, {}))
        apps[service] = module.create_app(settings, clock=clock, transports=transports)
        transports[service] = httpx.ASGITransport(apps[service], raise_app_exceptions=False)
    gateway_settings = backend.settings("gateway", **(overrides or {}).get("gateway", {}))
    seen_by_gateway = gateway_transports(dict(transports)) if gateway_transports else transports
    apps["gateway"] = gateway_app(gateway_settings, clock=clock, transports=seen_by_gateway)  # type: ignore[arg-type]
    async with AsyncExitStack() as stack:
        # Started callees first so that they stop last: a producer's relay still running must not reach a
        # notify that has already closed its database.
        for service in ("notify", "fraud", "txn", "kyc", "auth", "gateway"):
            await stack.enter_async_context(running(apps[service]))
        gateway = await stack.enter_async_context(client_for(apps["gateway"]))
        yield System(apps, clock, gateway)
