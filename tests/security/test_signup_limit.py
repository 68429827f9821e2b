"""Issue 13 item 11: the account-opening limit counts accounts created, not attempts, and staff can clear it."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import CUSTOMER, SIGNING_KEY
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, in_process_system
from tests.servers import eventually_async

REDIS_URL = "redis://127.0.0.1:6379/0"
PEER = "127.0.0.1"  # httpx.ASGITransport gives every request this peer: one address for every sign-up here
CLEAR = "/v1/ops/rate-limits"


@asynccontextmanager
async def started(backend: Backend, smtp: SmtpSink, sms: SmsSink, **gateway: Any) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
        "gateway": gateway,
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as system:
        yield system


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    async with started(backend, smtp, sms) as running:
        yield running


def customer(n: int) -> dict[str, Any]:
    return {**CUSTOMER, "email": f"signup.{n}@example.jp", "phone": f"090-5555-{n:04d}"}


async def sign_up(system: System, n: int, **changes: Any) -> httpx.Response:
    return await system.gateway.post("/v1/accounts", json={**customer(n), **changes})


async def bearer(system: System, login_id: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await staff_token(system, await make_staff(system, login_id, role))}"}


async def test_refused_sign_ups_do_not_count_against_the_limit(system: System) -> None:
    """Before: the 6th weak password was already a 429, and so was the good one after it, for an hour."""
    for n in range(6):
        weak = await sign_up(system, n, password="password")
        assert (weak.status_code, weak.json()["code"]) == (422, "password_policy")
    assert (await system.gateway.post("/v1/accounts", json={})).status_code == 422
    good = await sign_up(system, 1)
    assert good.status_code == 201, good.text


async def _five_then_limited(system: System) -> None:
    for n in range(5):
        created = await sign_up(system, n)
        assert created.status_code == 201, created.text
    sixth = await sign_up(system, 5)
    assert (sixth.status_code, sixth.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(sixth.headers["retry-after"]) <= 3600
    # A refused attempt is not counted when the limit is reached either.
    assert (await sign_up(system, 6, password="password")).status_code == 429


async def test_five_accounts_from_one_address_then_429_and_a_supervisor_clears_it(system: System) -> None:
    await _five_then_limited(system)
    anonymous = await system.gateway.delete(CLEAR, params={"operation": "account_open", "ip": PEER})
    assert anonymous.status_code == 401
    analyst = await system.gateway.delete(
        CLEAR, params={"operation": "account_open", "ip": PEER}, headers=await bearer(system, "analyst.sato", "analyst")
    )
    assert (analyst.status_code, analyst.json()["code"]) == (403, "forbidden")
    assert (await sign_up(system, 5)).status_code == 429  # nothing was cleared

    supervisor = await bearer(system, "supervisor.kato", "supervisor")
    for wrong, code in (
        ({"operation": "teleport", "ip": PEER}, "unknown_operation"),
        ({"operation": "account_open", "ip": "not-an-ip"}, "validation_failed"),
        ({"operation": "account_open"}, "validation_failed"),
        ({"operation": "account_open", "ip": PEER, "customer_id": "c1"}, "validation_failed"),
    ):
        refused = await system.gateway.delete(CLEAR, params=wrong, headers=supervisor)
        assert (refused.status_code, refused.json()["code"]) == (422, code), wrong
    cleared = await system.gateway.delete(CLEAR, params={"operation": "account_open", "ip": PEER}, headers=supervisor)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"operation": "account_open", "per": "ip", "value": PEER, "limits_cleared": 1}
    assert (await sign_up(system, 5)).status_code == 201

    admin = await bearer(system, "admin.sakai", "admin")

    async def audited() -> bool:
        trail = await system.gateway.get("/v1/ops/audit", params={"action": "rate_limit.clear"}, headers=admin)
        entries = trail.json()["entries"]
        return len(entries) == 1 and entries[0]["target_id"] == f"account_open:ip={PEER}"

    await eventually_async(audited)


async def test_parallel_sign_ups_from_one_address_create_at_most_the_limit(system: System) -> None:
    """Twelve at once: each holds a slot before it is forwarded, so no burst passes the check before any counts."""
    answers = await asyncio.gather(*(sign_up(system, n) for n in range(12)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 5 + [429] * 7


async def test_parallel_refused_sign_ups_give_their_slots_back(system: System) -> None:
    answers = await asyncio.gather(*(sign_up(system, n, password="password") for n in range(5)))
    assert {answer.status_code for answer in answers} <= {422, 429}
    for n in range(5):
        assert (await sign_up(system, 100 + n)).status_code == 201


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable on 127.0.0.1:6379")
async def test_the_limit_and_its_clearing_on_redis_counters(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> None:
    prefix = f"sekisho-test-{secrets.token_hex(4)}:"
    async with started(backend, smtp, sms, redis_url=REDIS_URL, redis_key_prefix=prefix) as system:
        for n in range(6):
            assert (await sign_up(system, 50 + n, password="password")).status_code == 422
        await _five_then_limited(system)
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        try:
            (name,) = await redis.keys(f"{prefix}rate:account_open:*")  # Redis's, not the database's
            assert int(await redis.get(name)) == 5
            supervisor = await bearer(system, "supervisor.kato", "supervisor")
            cleared = await system.gateway.delete(
                CLEAR, params={"operation": "account_open", "ip": PEER}, headers=supervisor
            )
            assert cleared.status_code == 200, cleared.text
            assert await redis.get(name) is None
            assert (await sign_up(system, 5)).status_code == 201
        finally:
            await redis.aclose()
