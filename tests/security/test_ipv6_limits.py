"""An IPv6 subscriber holds a whole /64 and can take a fresh address for every request: limits keyed by IP count
it per /64, an IPv4 client per address (issue 13, item 1). The caller's address comes from a trusted proxy's
X-Forwarded-For, as behind the ingress."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from shared.clock import FrozenClock
from tests.harness import Backend, System, in_process_system

PROXY = "127.0.0.1/32"  # httpx.ASGITransport's peer


@asynccontextmanager
async def started(backend: Backend, overrides: dict[str, dict[str, Any]]) -> AsyncIterator[System]:
    async with in_process_system(backend, overrides, clock=FrozenClock()) as system:
        yield system


async def login(system: System, ip: str) -> httpx.Response:
    # A new unknown login id each time: only the limits on the address are at play, never an account's lockout.
    login_id = f"nobody.{uuid.uuid4().hex[:12]}@example.jp"
    return await system.gateway.post(
        "/v1/auth/login",
        json={"login_id": login_id, "password": "Wrong-password-1", "device_id": "device-attacker-1"},
        headers={"X-Forwarded-For": ip},
    )


async def test_the_gateways_login_limit_counts_an_ipv6_client_per_64(backend: Backend) -> None:
    async with started(backend, {"gateway": {"trusted_proxies": PROXY}}) as system:
        for n in range(1, 21):  # the default: 20 logins a minute per IP
            assert (await login(system, f"2001:db8:1:2::{n:x}")).status_code == 401
        flooded = await login(system, "2001:db8:1:2:ffff:ffff:ffff:ffff")  # a new address, the same /64
        assert (flooded.status_code, flooded.json()["code"]) == (429, "rate_limited")
        assert (await login(system, "2001:db8:1:3::1")).status_code == 401  # the next /64 is someone else
        for _ in range(20):
            assert (await login(system, "192.0.2.1")).status_code == 401
        assert (await login(system, "192.0.2.1")).status_code == 429
        assert (await login(system, "192.0.2.2")).status_code == 401  # IPv4 stays per address


async def test_auths_login_throttle_counts_an_ipv6_client_per_64(backend: Backend) -> None:
    overrides: dict[str, dict[str, Any]] = {
        "gateway": {"trusted_proxies": PROXY, "rate_limits": ()},  # auth's own throttle alone
        "auth": {"ip_failures_per_window": 5},
    }
    async with started(backend, overrides) as system:
        for n in range(1, 6):
            assert (await login(system, f"2001:db8:1:2::{n:x}")).status_code == 401
        throttled = await login(system, "2001:db8:1:2::abcd")
        assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_attempts")
        assert (await login(system, "2001:db8:9::1")).status_code == 401  # another /56 altogether
