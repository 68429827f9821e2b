"""A service answers only other sekisho services: no identity, a forged, expired or misdirected one is 401 (SEC-1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.clock import FrozenClock
from shared.identity import IdentityIssuer
from shared.identity_keys import new_identity_key
from shared.middleware import IDENTITY_HEADER
from tests.harness import Backend, client_for, identity_issuer, migrate, running

INTERNAL = ("auth", "kyc", "txn", "fraud", "notify")


@pytest.fixture(params=INTERNAL)
async def service(request: pytest.FixtureRequest, backend: Backend) -> AsyncIterator[tuple[str, FastAPI, FrozenClock]]:
    name: str = request.param
    await migrate(backend, name)
    module = __import__(f"services.{name}.app", fromlist=["create_app"])
    clock = FrozenClock()
    app = module.create_app(backend.settings(name), clock=clock)
    async with running(app):
        yield name, app, clock


async def call(app: FastAPI, token: str | None) -> httpx.Response:
    headers = {} if token is None else {IDENTITY_HEADER: token}
    async with client_for(app) as client:
        return await client.post("/internal/trace", json={"hops": []}, headers=headers)


@pytest.mark.req("SEC-1")
async def test_a_call_without_identity_is_refused(service: tuple[str, FastAPI, FrozenClock]) -> None:
    _, app, _ = service
    response = await call(app, None)
    assert response.status_code == 401
    assert response.json()["code"] == "service_identity_required"
    assert "x-request-id" in response.headers


@pytest.mark.req("SEC-1")
async def test_a_forged_identity_is_refused(service: tuple[str, FastAPI, FrozenClock]) -> None:
    name, app, clock = service
    forged = IdentityIssuer(service="gateway", key=new_identity_key()[0], clock=clock).issue(name)
    response = await call(app, forged)
    assert response.status_code == 401
    assert response.json()["code"] == "service_identity_invalid"


@pytest.mark.req("SEC-1")
async def test_an_expired_identity_is_refused(service: tuple[str, FastAPI, FrozenClock]) -> None:
    name, app, clock = service
    token = identity_issuer("gateway", clock).issue(name)
    clock.advance(minutes=5)
    response = await call(app, token)
    assert response.status_code == 401
    assert response.json()["detail"] == "The service identity has expired."


@pytest.mark.req("SEC-1")
async def test_an_identity_for_another_service_is_refused(service: tuple[str, FastAPI, FrozenClock]) -> None:
    name, app, clock = service
    other = "notify" if name != "notify" else "auth"
    token = identity_issuer("gateway", clock).issue(other)
    response = await call(app, token)
    assert response.status_code == 401


async def test_a_valid_identity_is_answered_and_probes_stay_open(service: tuple[str, FastAPI, FrozenClock]) -> None:
    name, app, clock = service
    token = identity_issuer("gateway", clock).issue(name)
    response = await call(app, token)
    assert response.status_code == 200
    assert response.json()["caller"] == "gateway"
    async with client_for(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
