"""Refuses request bodies over the configured size with 413, before they reach a service or fill memory."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.middleware import header, send_problem


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, limit_for: Callable[[str, str], int | None] | None = None
    ) -> None:
        """`limit_for(method, path)`: a route's own larger limit, or None for `max_bytes`."""
        self.app = app
        self.max_bytes = max_bytes
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self.limit_for(scope["method"], scope["path"]) if self.limit_for is not None else None
        max_bytes = own if own is not None else self.max_bytes
        detail = f"The request body exceeds {max_bytes} bytes."
        declared = header(scope, b"content-length")
        if declared is not None and not declared.isdigit():
            await send_problem(send, 400, "bad_request", "The Content-Length header is not a number.")
            return
        if declared is not None and int(declared) > max_bytes:
            await send_problem(send, 413, "payload_too_large", detail)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_problem(send, 413, "payload_too_large", detail)
