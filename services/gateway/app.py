"""The gateway: the only service that faces the outside (SEC-1). create_app() builds it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from services.gateway import console_pages, controls_api, jwks, models, partners_api, proxy
from services.gateway.bearer import BearerAuthenticator
from services.gateway.body_limit import BodyLimitMiddleware
from services.gateway.client_ip import client_ip
from services.gateway.clients import AuthClient, FraudClient
from services.gateway.controls import GatewayControls, fetch_fraud_ip_denies
from services.gateway.cors import CorsMiddleware
from services.gateway.enforcement import Enforcer
from services.gateway.origins import PublicOrigins
from services.gateway.policy import policy_for
from services.gateway.rate_limits import RateLimiter, counter_for
from services.gateway.routes import PING, PUBLIC_ROUTES, Route, RouteMatch, RouteTable, diagnostic_routes
from services.gateway.runtime import GatewayRuntime
from services.gateway.settings import GatewaySettings
from services.gateway.signatures import PartnerAuthenticator
from shared.clock import Clock
from shared.security_headers import GATEWAY_HEADERS
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
# The public contract: every route of the table, generated from the services' own models by `sekisho openapi`
# (sekisho/openapi.py) and committed; tests/gateway/test_openapi.py fails when it is stale.
PUBLIC_OPENAPI = Path(__file__).parent / "openapi.json"


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
    operations = frozenset(route.operation for route in routes)
    # A bad policy file stops start-up here, with the file, the line and the reason.
    policy = policy_for(settings, operations)
    origins = PublicOrigins.configured(settings.public_origins, settings.gateway_url)
    table = RouteTable(routes)

    def body_limit_for(method: str, path: str) -> int | None:
        matched = table.match(method, path)
        if isinstance(matched, RouteMatch) and matched.route.large_body:
            return settings.large_body_max_bytes
        return None

    async def start_runtime(state: ServiceState) -> None:
        assert state.outbox is not None  # the gateway is built with an outbox table
        limiter = RateLimiter(
            counter=counter_for(settings, state.database), limits=settings.rate_limits, clock=state.clock
        )
        fraud = FraudClient(state.client)
        controls = GatewayControls(
            database=state.database,
            clock=state.clock,
            limiter=limiter,
            known_operations=operations | {PING.operation},
            refresh_seconds=settings.controls_refresh_seconds,
            fraud_lists=lambda: fetch_fraud_ip_denies(fraud),
        )
        auth = AuthClient(state.client)
        runtime = GatewayRuntime(
            service=state,
            settings=settings,
            bearer=BearerAuthenticator(
                auth=auth, clock=state.clock, max_lifetime_seconds=settings.access_token_ttl_seconds
            ),
            partners=PartnerAuthenticator(
                database=state.database,
                cipher=state.cipher,
                clock=state.clock,
                window_seconds=settings.signature_window_seconds,
                origins=origins,
                trusted_proxies=settings.trusted_proxies,
            ),
            controls=controls,
            enforcer=Enforcer(
                policy=policy,
                auth=auth,
                fraud=fraud,
                clock=state.clock,
                score_timeout_seconds=settings.score_timeout_seconds,
                database=state.database,
                outbox=state.outbox,
                metrics=state.metrics,
            ),
        )
        await controls.start()
        state.runtime = runtime

    async def stop_runtime(state: ServiceState) -> None:
        if isinstance(state.runtime, GatewayRuntime):
            await state.runtime.controls.stop()

    middleware = [Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, limit_for=body_limit_for)]
    if settings.cors_origins:
        # Outside the body limit: a preflight is answered before anything else, and a 413 is readable by the page.
        middleware.append(Middleware(CorsMiddleware, origins=settings.cors_origins, table=table))
    app = build_service_app(
        name="gateway",
        settings=settings,
        migrations=MIGRATIONS,
        # The gateway's own routes before the proxy: its catch-all would shadow them.
        routers=[partners_api.router, controls_api.router, console_pages.router, jwks.router, proxy.router],
        clock=clock,
        transports=transports,
        internal=False,
        outbox_table=models.outbox,
        on_startup=[start_runtime],
        on_shutdown=[stop_runtime],
        middleware=middleware,
        title="sekisho gateway",
        response_headers=GATEWAY_HEADERS,
        server_timing=settings.server_timing,
        api_docs=settings.api_docs,
        # Only operators scrape the gateway's /metrics: the client's address (behind the trusted proxies) is checked.
        scraper_ip=lambda request: client_ip(request, settings.trusted_proxies),
    )
    app.state.routes = table
    # /openapi.json (and /docs, when on) show the public document instead of FastAPI's, which lists only the
    # gateway's own few routes: the proxy's catch-all hides the services'.
    public_openapi = json.loads(PUBLIC_OPENAPI.read_text(encoding="utf-8"))
    app.openapi = lambda: public_openapi  # type: ignore[method-assign]
    return app
