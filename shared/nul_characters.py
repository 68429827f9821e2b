"""Refuses a request that carries a NUL character (U+0000) in its path, its query or a JSON body's strings, with a
422 problem, before any route sees it.

PostgreSQL's text types cannot hold NUL: a value with one, bound to any query (a cursor compared with an id, a
comment stored), fails in the driver (`invalid byte sequence for encoding "UTF8": 0x00`), which is no validation
error, so the route answered 500 (found by `make fuzz`: `GET /v1/ops/incidents?cursor=%00`). No sekisho value
needs a NUL, and SQLite would store one that PostgreSQL then refuses: every service refuses them alike, at the
door, with the field they came in.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.middleware import header, send_problem

# `\u0000` in JSON text, not preceded by another backslash that escapes its own (`\\u0000` is the six characters).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def nul_in_json(body: bytes) -> bool:
    """Whether a JSON text holds a NUL in a string (the escape; a raw NUL byte is not JSON, its parser refuses it)."""
    return b"\\u0000" in body and _ESCAPED_NUL.search(body) is not None


def nul_in_query(query_string: bytes) -> bool:
    return b"\x00" in query_string or b"%00" in query_string


class NulCharacterMiddleware:
    """Answers 422 `validation_failed` (violation `path`, `query` or `body` / `nul_character`) without calling the app
    when the request carries a NUL; hands a JSON body on unchanged otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _refuse(send, "path")
            return
        if nul_in_query(scope.get("query_string", b"")):
            await _refuse(send, "query")
            return
        content_type = header(scope, b"content-type")
        media = (content_type or "application/json").split(";", 1)[0].strip().lower()
        if not (media == "application/json" or media.endswith("+json")):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(message.get("body", b"") for message in received if message["type"] == "http.request")
        if nul_in_json(body):
            await _refuse(send, "body")
            return

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, field: str) -> None:
    detail = f"The request's {field} holds a NUL character (U+0000), which no value may contain."
    violation = {"field": field, "code": "nul_character", "message": detail}
    await send_problem(send, 422, "validation_failed", detail, violations=[violation])
