"""Response headers that tell browsers and caches how to treat sekisho's answers.

Every service's answers carry `X-Content-Type-Options: nosniff`. The gateway's (the only ones that leave
the system) also carry GATEWAY_HEADERS: nothing it answers may be stored by a browser or a proxy (tokens,
`/v1/me`, staff reads: one rule for every answer is simpler and safer than a list of routes to keep in step),
framed, or sent on as a referrer, and browsers must reach it over HTTPS only.

HSTS is sent on every gateway answer, whatever the request's scheme: TLS ends at the ingress in front of the
gateway, so the scheme the gateway sees says nothing about the client's, and a browser ignores the header on
an answer that did not come over HTTPS (RFC 6797 section 8.1), so sending it over plain HTTP costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_SERVICE_HEADERS: tuple[tuple[str, str], ...] = (("X-Content-Type-Options", "nosniff"),)

CONTENT_SECURITY_POLICY = "Content-Security-Policy"
GATEWAY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    # JSON only: no script, style or frame may come from an answer, and no page may frame one.
    (CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
)


class SecurityHeadersMiddleware:
    """Adds each header to every answer that does not carry it already (a service may say something
    stricter). `pages`: paths of HTML pages (the API docs, when they are switched on) that load scripts and
    styles, and so get no Content-Security-Policy."""

    def __init__(
        self, app: ASGIApp, *, headers: Sequence[tuple[str, str]], pages: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        csp = CONTENT_SECURITY_POLICY.lower().encode("latin-1")
        self.page_headers = [(name, value) for name, value in self.headers if name != csp]
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.page_headers if scope["path"] in self.pages else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in added if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
