"""Builds a sekisho service: the FastAPI app, its lifespan-owned state, probes, middleware and error handlers.

Every service's `create_app()` calls `build_service_app` with its own name, settings, routers and
migration folder; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import Table
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response

from shared.audit import AUDIT_BATCH_PATH, AUDIT_PATH
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher
from shared.database import Database, target_for
from shared.events import EVENTS_BATCH_PATH, EVENTS_PATH
from shared.identity import IdentityIssuer, IdentityVerifier
from shared.internal_client import InternalClient
from shared.json_depth import JsonDepthMiddleware
from shared.logs import configure_logging
from shared.metrics import MetricsMiddleware, ServiceMetrics, peer_ip, scrape_allowed
from shared.middleware import RequestContextMiddleware, ServiceIdentityMiddleware
from shared.migrations import head_revision
from shared.nul_characters import NulCharacterMiddleware
from shared.outbox import Outbox, OutboxConfig
from shared.probes import Liveness, Readiness, ReadyDatabase
from shared.problems import install_problem_handlers, problem_response
from shared.security_headers import EVERY_SERVICE_HEADERS, SecurityHeadersMiddleware
from shared.settings import ServiceSettings
from shared.tracing import Tracing, TracingMiddleware

# What the outbox relay may send in batches (shared/batches.py): events and audit entries wait a moment for company.
BATCH_PATHS = {("fraud", EVENTS_PATH): EVENTS_BATCH_PATH, ("auth", AUDIT_PATH): AUDIT_BATCH_PATH}


@dataclass
class ServiceState:
    """What a running service holds; lives in `app.state.service` between startup and shutdown."""

    name: str
    settings: ServiceSettings
    clock: Clock
    database: Database
    client: InternalClient
    issuer: IdentityIssuer
    cipher: FieldCipher
    outbox: Outbox | None = None
    # The app's Prometheus series (shared/metrics.py): its own registry, counted where the service acts.
    metrics: ServiceMetrics | None = None
    # The service's own typed runtime (AuthRuntime, GatewayRuntime …), built by its start-up hook and reached
    # through its RuntimeDep (shared.dependencies.runtime_dependency): what only that service works with.
    runtime: object | None = None


Hook = Callable[[ServiceState], Awaitable[None]]


def build_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    migrations: Path,
    routers: Sequence[APIRouter] = (),
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    internal: bool = True,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    outbox_table: Table | None = None,
    outbox_config: OutboxConfig | None = None,
    middleware: Sequence[Middleware] = (),
    quiet_paths: frozenset[str] = frozenset(),
    title: str | None = None,
    version: str = "0.1.0",
    response_headers: Sequence[tuple[str, str]] = (),
    server_timing: bool | None = None,
    api_docs: bool | None = None,
    scraper_ip: Callable[[Request], str] = peer_ip,
) -> FastAPI:
    """`response_headers`: added to every answer besides EVERY_SERVICE_HEADERS. `server_timing`: answers say
    how long the service took (a caller outside can time the work behind an answer with it). `api_docs`:
    FastAPI's /docs and /redoc pages (the OpenAPI document at /openapi.json stays, as the README promises). Unset,
    either is on outside production and off in it (SEKISHO_ENV=prod). `scraper_ip`: the address /metrics checks
    against SEKISHO_METRICS_NETWORKS (the TCP peer's; the gateway's, the client's behind its trusted proxies)."""
    development = settings.env != "prod"
    server_timing = development if server_timing is None else server_timing
    api_docs = development if api_docs is None else api_docs
    identity_key, public_keys = settings.require_identity_keys(name)
    cipher = FieldCipher(settings.require_data_keys(), index_key=settings.index_key())
    clock = clock or SystemClock()
    head = head_revision(migrations)
    metrics = ServiceMetrics(name)
    tracing = Tracing(name, settings.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.log_json:
            configure_logging(name, settings.log_level, settings.log_stream)
        tracing.start()
        issuer = IdentityIssuer(
            service=name, key=identity_key, clock=clock, ttl_seconds=settings.internal_token_ttl_seconds
        )
        state = ServiceState(
            name=name,
            settings=settings,
            clock=clock,
            database=Database(target_for(settings, name), pool_size=settings.database_pool_size),
            client=InternalClient(settings=settings, issuer=issuer, transports=transports, tracer=tracing.tracer),
            issuer=issuer,
            cipher=cipher,
            metrics=metrics,
        )
        if outbox_table is not None:
            state.outbox = Outbox(
                table=outbox_table,
                database=state.database,
                client=state.client,
                cipher=cipher,
                clock=clock,
                config=outbox_config,
                batch_paths=BATCH_PATHS,
            )
        app.state.service = state
        try:
            for hook in on_startup:
                await hook(state)
            # What start-up loaded lives as long as the process (the offline geo database alone is lists of
            # millions of items): out of the collector's sight, a full collection no longer walks it, which
            # stalled every request in flight for 25 ms or more each time one ran.
            gc.freeze()
            if state.outbox is not None:
                state.outbox.start()
            yield
        finally:
            if state.outbox is not None:
                await state.outbox.stop()
            for hook in reversed(on_shutdown):
                await hook(state)
            await state.client.aclose()
            await state.database.dispose()
            if tracing.enabled:
                # Exports the spans still queued: seconds of retries when the collector is down, so off the loop.
                await asyncio.to_thread(tracing.stop)

    docs_url, redoc_url = ("/docs", "/redoc") if api_docs else (None, None)
    app = FastAPI(
        title=title or f"sekisho {name}", version=version, lifespan=lifespan, docs_url=docs_url, redoc_url=redoc_url
    )
    install_problem_handlers(app)

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> Liveness:
        """Alive: the process answers. Says nothing about its dependencies."""
        return Liveness(status="alive", service=name)

    # A raw answer: the refusals are problem documents (503 not_ready) with the database's state.
    @app.get("/readyz", tags=["probes"], responses={200: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        """Ready: this service's own database answers and is migrated to the code's head revision."""
        state: ServiceState = app.state.service
        database: dict[str, Any] = {
            "dialect": state.database.target.dialect,
            "schema": state.database.target.schema,
            "head": head,
        }
        try:
            await state.database.ping()
            database["revision"] = await state.database.revision()
        except Exception as exc:  # noqa: BLE001 - readiness reports the failure instead of raising it
            database.update(ok=False, error=type(exc).__name__)
            return problem_response(503, "not_ready", "The database does not answer.", service=name, database=database)
        database["ok"] = database["revision"] == head
        if not database["ok"]:
            return problem_response(
                503,
                "not_ready",
                "The database is not migrated; run `sekisho migrate`.",
                service=name,
                database=database,
            )
        ready = Readiness(status="ready", service=name, database=ReadyDatabase.model_validate(database))
        return JSONResponse(ready.model_dump(by_alias=True))

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus text format, for the scrapers SEKISHO_METRICS_NETWORKS allows; anyone else: no such page."""
        if not scrape_allowed(scraper_ip(request), settings.metrics_networks):
            return problem_response(404, "not_found", "No such resource.")
        state: ServiceState = app.state.service
        if state.outbox is not None:
            await metrics.observe_outbox(state.outbox.table, state.database, state.clock)
        return metrics.exposition()

    for router in routers:
        app.include_router(router)

    # Innermost: after the caller is known (and, at the gateway, the body's size bounded), before any parser.
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(JsonDepthMiddleware)
    # Traces (shared/tracing.py), only when an exporter is configured. An internal service's span sits inside the
    # identity check, so that only a verified sekisho caller's traceparent is continued; the gateway's sits
    # outermost but for the request id, and starts every trace afresh.
    if tracing.enabled and internal:
        app.add_middleware(TracingMiddleware, tracing=tracing, edge=False)
    if internal:
        app.add_middleware(
            ServiceIdentityMiddleware,
            verifier=IdentityVerifier(service=name, public_keys=public_keys, clock=clock),
        )
    for extra in middleware:
        app.add_middleware(extra.cls, *extra.args, **extra.kwargs)
    pages = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"}) if api_docs else frozenset()
    app.add_middleware(SecurityHeadersMiddleware, headers=(*EVERY_SERVICE_HEADERS, *response_headers), pages=pages)
    app.add_middleware(MetricsMiddleware, metrics=metrics, clock=time.perf_counter)
    if tracing.enabled and not internal:
        app.add_middleware(TracingMiddleware, tracing=tracing, edge=True)
    # Outermost, so that every answer (a 401 or 413 from the middleware inside included) carries the request id.
    app.add_middleware(RequestContextMiddleware, quiet=quiet_paths, server_timing=server_timing)
    return app
