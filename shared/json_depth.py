"""Refuses JSON bodies nested deeper than MAX_JSON_DEPTH with a 422 problem, before any parser sees them.

`json.loads` recurses once per level: `[[[[…]]]]` 100,000 deep fits well under the gateway's 1 MiB body
limit and ends in RecursionError, which is not a ValueError, so every parser that only expects a malformed
body turned it into a 500. No sekisho body needs more than a few levels. Every service runs this middleware
(the gateway before it forwards anything; the others because they must not trust the gateway alone).

The scan is cheap and runs once, before the body is parsed: a body with no more brackets than the limit
cannot be too deep (two `bytes.count`s); only a body with more is measured, with C-speed passes that drop
the strings and every byte but the brackets, then a running sum of +1/-1.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.middleware import header, send_problem

MAX_JSON_DEPTH = 32

# A JSON string, escapes included (the unrolled form stays linear on long strings).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in _BRACKETS)
# Openers become 1 and closers -1 as signed bytes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_SLICE = 16_384


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the body opens more than `limit` arrays or objects inside each other (brackets in strings do
    not count). A malformed body is measured the same way; its parser refuses it anyway."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    steps = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS).translate(_STEPS)
    depth = 0
    for start in range(0, len(steps), _SLICE):  # by slices: a deep attack is found in its first one
        running = list(accumulate(array("b", steps[start : start + _SLICE]), initial=depth))
        if max(running) > limit:
            return True
        depth = running[-1]
    return False


def _is_json(content_type: str | None) -> bool:
    """FastAPI parses a body as JSON when its type says so, or says nothing."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JsonDepthMiddleware:
    """Reads a JSON request body in full, measures it, and hands it on unchanged, or answers 422
    `validation_failed` (violation `body`/`too_deep`) without calling the app."""

    def __init__(self, app: ASGIApp, *, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(header(scope, b"content-type")):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the app will see it
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if json_depth_exceeds(body, self.max_depth):
            detail = f"The body nests arrays or objects more than {self.max_depth} levels deep."
            violation = {"field": "body", "code": "too_deep", "message": detail}
            await send_problem(send, 422, "validation_failed", detail, violations=[violation])
            return
        if len(received) > 1 and received[-1]["type"] == "http.request":
            received = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)
