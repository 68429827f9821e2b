"""CORS for the customer API: the web pages of SEKISHO_CORS_ORIGINS may call it from a browser; nothing else changes.

Only the customer API takes part: a path under /v1/ whose routes are neither staff's (/v1/ops/, the ops console is
served by the gateway itself, same-origin) nor partners' (/v1/atm/, server to server). With no origin configured (the
default) the middleware is not installed at all.

- A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, before the rate limits, the
  IP rules and the proxy: it moves nothing, and a 429 to a preflight would break the browser's real request. An
  allowed origin asking for a method the path has, with headers the API reads, gets 204 and the grant; any other
  preflight gets 403 `cors_refused` without a single CORS header, which the browser treats as a refusal.
- An answer to an allowed origin carries Access-Control-Allow-Origin (the origin itself, never `*`) and the headers a
  client must read (the step-up's WWW-Authenticate, X-Request-ID, Retry-After…). Every customer-API answer carries
  `Vary: Origin`, so that no cache hands one origin's answer to another.
- Credentials are bearer tokens in Authorization, never cookies: Access-Control-Allow-Credentials is never sent (a
  browser then sends no cookie and reads no answer made with one).
- Origins are compared exactly with the configured ones, as the browser serialises them: no suffix or prefix match,
  the scheme and port count, and `null` (sandboxed frames, file: pages, some redirects) is never allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.controls import route_class_of
from services.gateway.routes import RouteMatch, RouteTable
from shared.middleware import header, send_problem

# The request headers the API reads from a browser (API.md, proxy.FORWARDED_REQUEST_HEADERS, the step-up grant).
ALLOWED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Step-Up-Grant",
    "X-Request-ID",
    "Accept",
    "Accept-Language",
)
# The answer's headers a client needs beyond the CORS-safelisted ones (Content-Type, Cache-Control, Content-Language…).
EXPOSED_RESPONSE_HEADERS = (
    "WWW-Authenticate",  # the step-up: Bearer error="insufficient_user_authentication"
    "X-Request-ID",
    "Retry-After",  # 429, 503
    "Location",  # 201
    "Idempotent-Replayed",
    "Allow",  # 405
)
MAX_AGE_SECONDS = 600  # browsers cap it anyway (Chromium: 2 hours, Firefox: 24 hours)

_ALLOWED_LOWER = frozenset(name.lower() for name in ALLOWED_REQUEST_HEADERS)
_PREFLIGHT_VARY = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def requested_headers(value: str | None) -> list[str]:
    """Access-Control-Request-Headers as a list of lower-case names (the browser's is already lower case)."""
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: Iterable[str], table: RouteTable) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.table = table
        self.expose = ", ".join(EXPOSED_RESPONSE_HEADERS).encode()
        self.allow_headers = ", ".join(ALLOWED_REQUEST_HEADERS).encode()

    def methods_at(self, path: str) -> list[str] | None:
        """The methods of the customer API at `path`; None when the path is not the customer API's."""
        if not path.startswith("/v1/"):
            return None
        found = self.table.match("OPTIONS", path)  # no route is OPTIONS: the path's methods, or None
        if not isinstance(found, list):
            return None
        for method in found:
            matched = self.table.match(method, path)
            if not isinstance(matched, RouteMatch) or route_class_of(matched.route, path) != "customer":
                return None
        return sorted(set(found))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        methods = self.methods_at(scope["path"])
        if methods is None:
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        requested_method = header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and origin is not None and requested_method is not None:
            await self._preflight(
                send, origin, requested_method, methods, header(scope, b"access-control-request-headers")
            )
            return
        allowed = origin is not None and origin in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != b"vary"]
                vary = [value for name, value in message.get("headers", []) if name.lower() == b"vary"]
                headers.append((b"vary", b", ".join([*vary, b"Origin"])))
                if allowed:
                    assert origin is not None
                    headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                    headers.append((b"access-control-expose-headers", self.expose))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, send: Send, origin: str, method: str, methods: list[str], request_headers: str | None
    ) -> None:
        vary = [(b"vary", _PREFLIGHT_VARY)]
        if origin not in self.origins:
            await send_problem(send, 403, "cors_refused", "This origin may not call the API from a browser.", vary)
            return
        if method not in methods:
            await send_problem(
                send, 403, "cors_refused", f"{method} is not a method of this resource ({', '.join(methods)}).", vary
            )
            return
        unknown = [name for name in requested_headers(request_headers) if name not in _ALLOWED_LOWER]
        if unknown:
            await send_problem(send, 403, "cors_refused", f"The API reads no header {', '.join(unknown)}.", vary)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", ", ".join(methods).encode()),
                    (b"access-control-allow-headers", self.allow_headers),
                    (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
                    *vary,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
