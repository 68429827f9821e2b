"""The gateway forwards known routes to their service and answers everything else itself, as a problem."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.gateway.app import create_app
from services.gateway.routes import Route
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, client_for, in_process_system, migrate, running


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[System]:
    # The trace is off by default and for admins only (tests/security/test_diagnostics.py).
    async with in_process_system(backend, {"gateway": {"diagnostics": True}}) as running_system:
        yield running_system


async def admin(system: System) -> dict[str, str]:
    return {"Authorization": f"Bearer {await staff_token(system, await make_staff(system, 'admin.trace', 'admin'))}"}


@pytest.mark.req("SEC-1")
async def test_a_request_crosses_the_gateway_and_two_services_with_one_request_id(system: System) -> None:
    response = await system.gateway.post(
        "/v1/diagnostics/auth/trace",
        json={"hops": ["notify"]},
        headers={"X-Request-ID": "req-e2e-1", **await admin(system)},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-e2e-1"
    body = response.json()
    assert (body["service"], body["caller"], body["request_id"]) == ("auth", "gateway", "req-e2e-1")
    assert (body["next"]["service"], body["next"]["caller"], body["next"]["request_id"]) == (
        "notify",
        "auth",
        "req-e2e-1",
    )


async def test_a_request_id_that_is_not_safe_is_replaced(system: System) -> None:
    response = await system.gateway.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) >= 16


async def test_unknown_routes_are_a_404_problem_and_never_forwarded(system: System) -> None:
    response = await system.gateway.get("/internal/trace")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_known_path_with_the_wrong_method_is_a_405_problem(system: System) -> None:
    response = await system.gateway.get("/v1/diagnostics/auth/trace")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


async def test_a_service_validation_problem_reaches_the_caller_unchanged(system: System) -> None:
    response = await system.gateway.post(
        "/v1/diagnostics/auth/trace", json={"hops": "notify"}, headers=await admin(system)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["violations"][0]["field"] == "hops"


async def test_a_declared_body_over_the_limit_is_refused_with_413(system: System) -> None:
    response = await system.gateway.post("/v1/diagnostics/auth/trace", content=b"x" * 1_048_577)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert "x-request-id" in response.headers


async def test_a_streamed_body_over_the_limit_is_refused_with_413(system: System) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 65_536

    response = await system.gateway.post("/v1/diagnostics/auth/trace", content=chunks())
    assert response.status_code == 413


def _slow_service() -> FastAPI:
    app = FastAPI()

    @app.post("/slow")
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(5)
        return JSONResponse({"late": True})

    return app


async def test_a_route_that_answers_too_late_is_a_504_problem(backend: Backend) -> None:
    await migrate(backend, "gateway")
    routes = (Route("POST", "/v1/slow", "auth", "session", upstream_path="/slow", timeout_seconds=0.2),)
    transports = {"auth": httpx.ASGITransport(_slow_service())}
    app = create_app(backend.settings("gateway"), transports=transports, routes=routes)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        response = await client.post("/v1/slow", json={})
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"


async def test_a_service_that_is_down_is_a_503_problem(backend: Backend) -> None:
    await migrate(backend, "gateway")
    app = create_app(backend.settings("gateway", auth_url="http://127.0.0.1:9"))  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        response = await client.post("/v1/auth/refresh", json={"refresh_token": "x"})
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
