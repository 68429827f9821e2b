"""ASGI middleware every service runs: request id, access log, and (for internal services) the service identity.

Written as plain ASGI rather than BaseHTTPMiddleware: it sits on every request of the hot path.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.channels import channel_var, from_context
from shared.identity import IdentityError, IdentityVerifier
from shared.ids import new_token
from shared.logs import request_id_var
from shared.problems import PROBLEM_CONTENT_TYPE, problem_body

REQUEST_ID_HEADER = "x-request-id"
IDENTITY_HEADER = "x-sekisho-identity"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

access_log = logging.getLogger("sekisho.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_problem(
    send: Send, status: int, code: str, detail: str, headers: Iterable[tuple[bytes, bytes]] = (), **extra: Any
) -> None:
    body = json.dumps(problem_body(status, code, detail, **extra)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Adopts the caller's X-Request-ID (or makes one), echoes it with the time taken (Server-Timing, unless
    `server_timing` is off), and logs one access line per request. A successful GET of a `quiet` path (probes,
    and what other services poll every second) is logged at DEBUG: at INFO it would bury the requests that
    matter."""

    def __init__(self, app: ASGIApp, quiet: frozenset[str] = frozenset(), *, server_timing: bool = True) -> None:
        self.app = app
        self.quiet = QUIET_PATHS | quiet
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else new_token(12)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                # How long this service took to answer (W3C Server-Timing): callers and benchmarks tell the
                # service's own time from the network's.
                if self.server_timing:
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            polled = scope["method"] == "GET" and status < 400 and scope["path"] in self.quiet
            access_log.log(
                logging.DEBUG if polled else logging.INFO,
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class ServiceIdentityMiddleware:
    """Refuses every call that does not carry a valid, unexpired identity signed for this service (SEC-1).

    Only the probes, the OpenAPI document and the metrics stay open: they reveal nothing personal and orchestrators
    and scrapers call them bare.
    """

    # /metrics checks the scraper's address itself (SEKISHO_METRICS_NETWORKS): Prometheus carries no identity.
    OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/metrics"})

    def __init__(self, app: ASGIApp, *, verifier: IdentityVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        token = header(scope, IDENTITY_HEADER.encode())
        if token is None:
            await send_problem(
                send, 401, "service_identity_required", "This service only answers other sekisho services."
            )
            return
        try:
            identity = self.verifier.verify(token)
        except IdentityError as exc:
            await send_problem(send, 401, "service_identity_invalid", str(exc))
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["identity"] = identity
        # What this request records happened through the channel the gateway vouched for (shared/channels.py).
        channel_token = channel_var.set(from_context(identity.caller, identity.context))
        try:
            await self.app(scope, receive, send)
        finally:
            channel_var.reset(channel_token)
