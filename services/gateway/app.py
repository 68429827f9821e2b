"""The gateway: the only service that faces the outside (SEC-1). create_app() builds it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from services.gateway import models, proxy
from services.gateway.bearer import BearerAuthenticator
from services.gateway.body_limit import BodyLimitMiddleware
from services.gateway.routes import PUBLIC_ROUTES, Route, RouteTable, diagnostic_routes
from services.gateway.settings import GatewaySettings
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: GatewaySettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    routes: tuple[Route, ...] | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    if routes is None:
        routes = PUBLIC_ROUTES + (diagnostic_routes() if settings.diagnostics else ())

    async def start_bearer(state: ServiceState) -> None:
        state.extras["bearer"] = BearerAuthenticator(client=state.client, clock=state.clock)

    app = build_service_app(
        name="gateway",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[proxy.router],
        clock=clock,
        transports=transports,
        internal=False,
        outbox_table=models.outbox,
        on_startup=[start_bearer],
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)],
        title="sekisho gateway",
    )
    app.state.routes = RouteTable(routes)
    return app
