"""One access line per request, at INFO; probes and polled paths that succeed at DEBUG, so they bury nothing."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse

from shared.middleware import RequestContextMiddleware
from tests.harness import client_for


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/poll")
    async def poll() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/work")
    async def work() -> PlainTextResponse:
        return PlainTextResponse("done")

    app.add_middleware(RequestContextMiddleware, quiet=frozenset({"/poll"}))
    return app


async def test_polled_paths_are_logged_at_debug_and_everything_else_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sekisho.access")
    async with client_for(_app()) as client:
        for path in ("/poll", "/work", "/healthz", "/missing"):
            await client.get(path)
        await client.post("/poll")
    levels = {(r.method, r.path): r.levelno for r in caplog.records if r.name == "sekisho.access"}  # type: ignore[attr-defined]
    assert levels == {
        ("GET", "/poll"): logging.DEBUG,
        ("GET", "/work"): logging.INFO,
        ("GET", "/healthz"): logging.INFO,  # a probe that fails (404 here) is worth seeing
        ("GET", "/missing"): logging.INFO,
        ("POST", "/poll"): logging.INFO,
    }
