"""OpenTelemetry traces across the services: a server span per request, a client span per internal call, and W3C
`traceparent` carried between them (and through the outbox), exported over OTLP/HTTP.

Off unless configured: without OTEL_EXPORTER_OTLP_ENDPOINT (or SEKISHO_OTLP_ENDPOINT) no provider, exporter or
thread is made, the middleware is not installed and the client only tests one attribute for None. On, each app has
its own TracerProvider (never the process-wide global, so that the apps of an in-process test system, like their
metrics registries, stay apart) with a batch processor that exports from its own thread.

What a span holds: the method, the route template (never the path asked for, nor its query), the status, the
request id (X-Request-ID) and the calling service. Never a body, a header value, a token nor an exception's message
(it may quote the input): a failure is recorded by its type name alone.

Who may choose the parent: an internal service continues the trace of the `traceparent` a verified sekisho caller
sent (its middleware sits inside the identity check). The gateway, the edge, never does: every public request
starts a new trace there, so that an outsider can neither join an internal trace nor steer sampling; a well-formed
outside `traceparent` is kept as a link only. Baggage is never read nor sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import request_id_var
from shared.metrics import route_template

log = logging.getLogger("sekisho.tracing")

# W3C trace context only: our own instance, not the global propagator (which also sends baggage).
PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = (b"traceparent", b"tracestate")
REQUEST_ID_ATTRIBUTE = "sekisho.request_id"
CALLER_ATTRIBUTE = "sekisho.caller"
# Probes and scrapes: polled every few seconds by machines, a span each would bury the requests that matter.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class Tracing:
    """One app's tracer: None until the app starts with an endpoint configured, and again after it stops."""

    def __init__(self, service: str, endpoint: str | None) -> None:
        self.service = service
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.tracer: Tracer | None = None
        self._provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None

    def start(self) -> None:
        """Make the provider and its exporter (OTLP/HTTP, `<endpoint>/v1/traces`). The batch processor's delay,
        queue and the exporter's headers, timeout and compression follow the standard OTEL_BSP_* and
        OTEL_EXPORTER_OTLP_* variables."""
        if self.endpoint is None:
            return
        resource = Resource.create({"service.name": self.service, "service.namespace": "sekisho"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{self.endpoint}/v1/traces")))
        self._provider = provider
        self.tracer = provider.get_tracer("sekisho")

    def stop(self) -> None:
        """Export what is queued (a stopping pod's last spans) and end the exporter's thread."""
        provider, self._provider, self.tracer = self._provider, None, None
        if provider is not None:
            provider.shutdown()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span in progress (to store with an outbox message), None outside one."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Run the block as part of the trace `traceparent` names (an outbox message sent long after the request that
    queued it): the client span of the delivery becomes a child of the span that queued it."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(PROPAGATOR.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


def links_to(traceparents: Iterable[str | None]) -> list[Link]:
    """Links to the spans `traceparents` name (the requests that queued the messages of one batch)."""
    links = []
    for traceparent in traceparents:
        if traceparent:
            linked = trace.get_current_span(PROPAGATOR.extract({"traceparent": traceparent})).get_span_context()
            if linked.is_valid:
                links.append(Link(linked))
    return links


@contextmanager
def client_span(
    tracer: Tracer,
    service: str,
    method: str,
    headers: MutableMapping[str, str],
    links: Iterable[str | None] = (),
) -> Iterator[Any]:
    """A client span for one call to `service`, current for the block, with its `traceparent` (and `tracestate`)
    put into `headers`. Named for the method and the service: an internal path can hold ids. `links`: traceparents
    the call also belongs to (a batch of outbox messages, each queued by its own request)."""
    span = tracer.start_span(
        f"{method} {service}",
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": method, "server.address": service, "peer.service": service},
        links=links_to(links),
    )
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        for name in [name for name in headers if name.lower() in ("traceparent", "tracestate")]:
            del headers[name]
        PROPAGATOR.inject(headers)
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def answered(span: Any, status: int) -> None:
    """Record the status a call was answered with; 5xx marks the span failed."""
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def _trace_headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        if key in TRACE_HEADERS:
            found[key.decode("latin-1")] = value.decode("latin-1")
    return found


class TracingMiddleware:
    """A server span per request, named `METHOD /route/{template}` once the route is known. `edge`: the caller
    is outside (the gateway): its `traceparent` never becomes the parent, only a link."""

    def __init__(self, app: ASGIApp, *, tracing: Tracing, edge: bool) -> None:
        self.app = app
        self.tracing = tracing
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = self.tracing.tracer
        if tracer is None or scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        incoming = PROPAGATOR.extract(_trace_headers(scope))
        links: list[Link] = []
        if self.edge:
            outside = trace.get_current_span(incoming).get_span_context()
            if outside.is_valid:
                links.append(Link(outside, {"sekisho.link": "outside caller"}))
            # A fresh root: nothing the caller sent (nor any context this task carried) is its parent.
            parent = otel_context.Context()
        else:
            parent = incoming
        attributes: dict[str, Any] = {"http.request.method": method}
        request_id = request_id_var.get()
        if request_id is not None:
            attributes[REQUEST_ID_ATTRIBUTE] = request_id
        identity = (scope.get("state") or {}).get("identity")
        if identity is not None:
            attributes[CALLER_ATTRIBUTE] = identity.caller
        span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes, links=links)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            route = route_template(scope)
            if route != "unmatched":
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            answered(span, status)
            span.end()
