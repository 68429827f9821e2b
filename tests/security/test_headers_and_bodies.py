"""Issue 13 item 10: deeply nested JSON, the headers every answer carries, and what the gateway keeps to itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.json_depth import MAX_JSON_DEPTH
from shared.settings import SERVICE_NAMES
from tests.auth.conftest import SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login, login
from tests.harness import Backend, System, in_process_system

# 100,000 levels: 200 kB, well under the gateway's 1 MiB limit; json.loads gives up with RecursionError.
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}

GATEWAY_HEADERS = {
    "cache-control": "no-store",
    "pragma": "no-cache",
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def overrides(smtp: SmtpSink, sms: SmsSink, **gateway: Any) -> dict[str, dict[str, Any]]:
    return {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
        "gateway": gateway,
    }


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    async with in_process_system(backend, overrides(smtp, sms), clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


def assert_too_deep(status: int, body: dict[str, Any]) -> None:
    assert status == 422, body
    assert body["code"] == "validation_failed"
    assert body["violations"] == [
        {
            "field": "body",
            "code": "too_deep",
            "message": f"The body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep.",
        }
    ]


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/accounts", "/v1/auth/refresh", "/v1/ops/auth/login"])
async def test_deeply_nested_json_to_the_gateway_is_a_422_and_reaches_no_service(system: System, path: str) -> None:
    """Before: 500 internal_error where the gateway parses the body itself (login and account opening are
    scored), else forwarded and 400 bad_request from the service's parser."""
    client = system.apps["gateway"].state.service.client
    calls: list[str] = []
    original = client.request

    async def spy(service: str, method: str, upstream: str, **kwargs: Any) -> Any:
        calls.append(upstream)
        return await original(service, method, upstream, **kwargs)

    client.request = spy
    response = await system.gateway.post(path, content=DEEP, headers=JSON)
    assert_too_deep(response.status_code, response.json())
    assert response.headers["content-type"] == "application/problem+json"
    assert calls == []  # refused before anything was forwarded (or scored)
    # Without a Content-Type FastAPI parses JSON too; objects count like arrays; strings do not count.
    assert (await system.gateway.post(path, content=b'{"a":' * 1000 + b"1" + b"}" * 1000)).status_code == 422
    shallow = b'{"login_id": "' + b"[" * 5000 + b'", "password": "x"}'
    assert (await system.gateway.post(path, content=shallow, headers=JSON)).status_code != 500


async def test_deeply_nested_json_from_another_service_is_a_422_at_every_service(system: System) -> None:
    """Services do not trust the gateway alone: a call with a valid service identity gets the same answer.
    Before: every service ran its parser into RecursionError (answered 400 bad_request by FastAPI)."""
    client = system.apps["gateway"].state.service.client  # signs the gateway's identity for each call
    for service in SERVICE_NAMES:
        if service == "gateway":
            continue
        response = await client.request(service, "POST", "/internal/trace", content=DEEP, headers=JSON)
        assert_too_deep(response.status_code, response.json())
        assert response.headers["x-content-type-options"] == "nosniff"
        fine = await client.request(service, "POST", "/internal/trace", json={"hops": []})
        assert fine.status_code == 200, (service, fine.text)


async def test_token_and_profile_answers_are_never_stored_and_carry_the_browser_headers(
    system: System, sms: SmsSink
) -> None:
    """Before: none of these headers on any answer."""
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    refreshed = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    me = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"})
    assert me.status_code == 200, me.text
    wrong = await login(system.gateway, password="not-the-password")
    refused = await system.gateway.post("/v1/accounts", json={})
    unknown = await system.gateway.get("/v1/nowhere")
    for answer in (refreshed, me, wrong, refused, unknown):
        for name, value in GATEWAY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url.path, name)


async def test_docs_and_server_timing_are_not_public_by_default(system: System) -> None:
    """Before: /docs and /redoc were FastAPI's pages, and every answer said how long the gateway took."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = await system.gateway.get(path)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), path
    for answer in (await system.gateway.get("/healthz"), await login(system.gateway)):
        assert "server-timing" not in answer.headers
    # The OpenAPI document stays: the README promises one at /openapi.json for every service.
    assert (await system.gateway.get("/openapi.json")).status_code == 200


async def test_docs_and_server_timing_when_configured(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> None:
    settings = overrides(smtp, sms, api_docs=True, server_timing=True)
    async with in_process_system(backend, settings) as system:
        docs = await system.gateway.get("/docs")
        assert docs.status_code == 200
        assert "content-security-policy" not in docs.headers  # the page loads its scripts
        assert docs.headers["x-frame-options"] == "DENY"
        assert (await system.gateway.get("/healthz")).headers["server-timing"].startswith("app;dur=")
