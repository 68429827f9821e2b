"""Attacks on the partner routes of a running system: /v1/atm/ping under the partner controls, and signatures made
for another host (issue 13, item 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.gateway import partners
from services.gateway.origins import PublicOrigins
from services.gateway.settings import GatewaySettings, RateLimit
from shared.clock import FrozenClock
from tests.gateway.partner_client import sign
from tests.gateway.test_controls import bearer
from tests.harness import Backend, System, in_process_system

BODY = b'{"hello": "sekisho"}'
PER_PARTNER = 5  # the default per-partner limit (600/min) made small enough to flood in a test
OVERRIDES: dict[str, dict[str, Any]] = {
    "gateway": {
        "public_origins": "http://testserver",
        "rate_limits": (RateLimit(route_class="partner", per="partner", limit=PER_PARTNER, window_seconds=60),),
    }
}


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[System]:
    async with in_process_system(backend, OVERRIDES, clock=FrozenClock()) as running:
        yield running


async def create_partner(system: System, name: str) -> dict[str, str]:
    state = system.apps["gateway"].state.service
    async with state.database.transaction() as session:
        return await partners.create_partner(
            session, name=name, allowed_cidrs=None, cipher=state.cipher, now=system.clock.now()
        )


def signed(system: System, credentials: dict[str, str], url: str = "http://testserver/v1/atm/ping") -> dict[str, str]:
    headers = sign(
        "POST",
        url,
        BODY,
        key_id=credentials["key_id"],
        secret=credentials["secret"],
        created=int(system.clock.timestamp()),
    )
    return {"Content-Type": "application/json", **headers}


async def ping(system: System, credentials: dict[str, str]) -> httpx.Response:
    return await system.gateway.post("/v1/atm/ping", content=BODY, headers=signed(system, credentials))


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@pytest.mark.req("SEC-4")
async def test_a_ping_from_an_address_the_partner_rules_deny_is_refused(system: System) -> None:
    atm = await create_partner(system, "seven-atm")
    assert (await ping(system, atm)).status_code == 200
    admin = await bearer(system, "admin.kudo", "admin")
    # The in-process client's peer is 127.0.0.1.
    rule = {"route_class": "partner", "kind": "deny", "cidr": "127.0.0.1/32", "note": "attack test"}
    assert (await system.gateway.put("/v1/ops/ip-rules", json=rule, headers=admin)).status_code == 201
    problem(await ping(system, atm), 403, "ip_denied")


async def test_a_ping_is_stopped_by_the_partners_kill_switch_and_only_that_partners(system: System) -> None:
    atm, other = await create_partner(system, "seven-atm"), await create_partner(system, "lawson-atm")
    admin = await bearer(system, "admin.kudo", "admin")
    stop = {"active": True, "reason": "INC-2026-12: leaked key", "partner_id": atm["partner_id"]}
    switched = await system.gateway.put("/v1/ops/kill-switches/atm_ping", json=stop, headers=admin)
    assert switched.status_code == 200, switched.text
    problem(await ping(system, atm), 503, "operation_suspended")
    assert (await ping(system, other)).status_code == 200
    resume = {**stop, "active": False, "reason": "key rotated"}
    assert (await system.gateway.put("/v1/ops/kill-switches/atm_ping", json=resume, headers=admin)).status_code == 200
    assert (await ping(system, atm)).status_code == 200


async def test_a_ping_flood_is_rate_limited_per_partner(system: System) -> None:
    atm, other = await create_partner(system, "seven-atm"), await create_partner(system, "lawson-atm")
    for _ in range(PER_PARTNER):
        assert (await ping(system, atm)).status_code == 200
    flooded = await ping(system, atm)
    problem(flooded, 429, "rate_limited")
    assert 1 <= int(flooded.headers["Retry-After"]) <= 60
    assert (await ping(system, other)).status_code == 200  # counted per partner
    assert isinstance(system.clock, FrozenClock)
    system.clock.advance(60)
    assert (await ping(system, atm)).status_code == 200


@pytest.mark.parametrize(
    "base_url", ["https://evil.example", "http://evil.example", "http://testserver:8443", "https://testserver"]
)
async def test_a_request_signed_for_another_origin_is_refused(system: System, base_url: str) -> None:
    """The partner's request, signed for another host (or port, or scheme), replayed to the gateway exactly as
    signed: the Host header and scheme match the signature, so only the origin check can refuse it."""
    atm = await create_partner(system, "seven-atm")
    transport = httpx.ASGITransport(system.apps["gateway"], raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as attacker:
        replayed = await attacker.post(
            "/v1/atm/ping", content=BODY, headers=signed(system, atm, url=f"{base_url}/v1/atm/ping")
        )
    body = problem(replayed, 401, "signature_invalid")
    assert body["reason"] == "target_uri"
    assert replayed.headers["content-type"] == "application/problem+json"
    assert (await ping(system, atm)).status_code == 200  # signed for the gateway's own origin


def test_an_origin_is_its_scheme_host_and_port() -> None:
    production = PublicOrigins.configured(["https://API.example.jp"], "http://gateway.sekisho.svc.cluster.local")
    assert production.admits("https", "api.example.jp")
    assert production.admits("https", "api.example.jp:443")
    for scheme, authority in [
        ("http", "api.example.jp"),
        ("https", "api.example.jp:8443"),
        ("https", "api.example.jp.evil.example"),
        ("https", "api.example.jp@evil.example"),
        ("https", "gateway.sekisho.svc.cluster.local"),
        ("https", "api.example.jp:port"),
    ]:
        assert not production.admits(scheme, authority), authority
    # Unset: the gateway's own URL; a loopback one under each loopback name (make run).
    development = PublicOrigins.configured([], "http://127.0.0.1:8000")
    assert development.admits("http", "localhost:8000")
    assert development.admits("http", "[::1]:8000")
    assert not development.admits("http", "localhost:8001")
    assert not development.admits("https", "127.0.0.1:8000")
    with pytest.raises(ValidationError):
        GatewaySettings(public_origins="https://api.example.jp/v1")
