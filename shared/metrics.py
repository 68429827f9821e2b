"""Prometheus metrics of one service: its own registry (never the process-wide default, so that many apps built in
one process, as the tests do, never share a series), the HTTP series every service records, the domain series a
service counts where it acts, and the scrape-time outbox gauges.

Labels carry no personal data: a route is its template (`/v1/ops/customers/{customer_id}`), never the path asked
for, and a path no route knows is counted as `unmatched`; the domain series are labelled by operation, channel,
outcome and side only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import Table, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.clock import Clock
from shared.database import Database

UNMATCHED = "unmatched"
# Where a router that is not the app's own knows the template (the gateway's proxy: its table's route).
ROUTE_STATE_KEY = "metrics_route"
LABELS = ("service", "method", "route", "status")
# Seconds; an internal call takes a millisecond or two, a scored login a few tens, a timeout seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Network = IPv4Network | IPv6Network


class ServiceMetrics:
    """Every series a service exposes at /metrics. Each service registers all of them (one shape for every
    dashboard); a series a service never counts shows only its HELP and TYPE lines."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sekisho_http_requests", "HTTP requests answered, by route template and status.", LABELS, registry=r
        )
        self.duration = Histogram(
            "sekisho_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            LABELS,
            buckets=BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "sekisho_outbox_depth", "Outbox messages not yet delivered nor refused for good.", ["service"], registry=r
        )
        self.outbox_oldest_age = Gauge(
            "sekisho_outbox_oldest_age_seconds",
            "Age of the oldest outbox message not yet delivered nor refused for good (0 when none).",
            ["service"],
            registry=r,
        )
        self.deliveries = Counter(
            "sekisho_notify_deliveries",
            "Notification sends recorded, by channel and outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.scores = Counter(
            "sekisho_fraud_scores",
            "Scores given, by operation and recommended action.",
            ["operation", "action"],
            registry=r,
        )
        self.lockouts = Counter(
            "sekisho_auth_lockouts",
            "Locks taken by failures, by side (known device or stranger), kind of failure and hard or temporary.",
            ["side", "kind", "lock"],
            registry=r,
        )
        self.step_ups = Counter(
            "sekisho_gateway_step_ups",
            "Step-ups at the gateway, by operation and outcome (challenged, granted, denied).",
            ["operation", "outcome"],
            registry=r,
        )

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (self.service, method if method in KNOWN_METHODS else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    async def observe_outbox(self, table: Table, database: Database, clock: Clock) -> None:
        """Depth and age of the oldest waiting message, read from the outbox table at scrape time."""
        waiting = table.c.delivered_at.is_(None) & table.c.rejected_at.is_(None)
        async with database.transaction() as session:
            depth, oldest = (
                await session.execute(select(func.count(), func.min(table.c.created_at)).where(waiting))
            ).one()
        self.outbox_depth.labels(self.service).set(depth)
        age = max(0.0, (clock.now() - oldest).total_seconds()) if oldest is not None else 0.0
        self.outbox_oldest_age.labels(self.service).set(age)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


# The metrics of the app answering the current request: what code deep in a flow counts (a lock taken by
# shared lockout code called from five flows) reaches them without threading them through every call.
current_metrics: ContextVar[ServiceMetrics | None] = ContextVar("sekisho_metrics", default=None)


def route_template(scope: Scope) -> str:
    """The template of the route that answered, never the path itself: no ids (customer, case) in a label."""
    state = scope.get("state") or {}
    known = state.get(ROUTE_STATE_KEY)
    if isinstance(known, str):
        return known
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, clock: Callable[[], float]) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500
        token = current_metrics.set(self.metrics)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            current_metrics.reset(token)
            self.metrics.record_request(scope["method"], route_template(scope), status, self.clock() - started)


def scrape_allowed(ip: str, networks: Sequence[Network]) -> bool:
    try:
        address: Any = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def peer_ip(request: Request) -> str:
    return request.client.host if request.client else ""
