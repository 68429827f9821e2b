"""A caller on the loopback forges X-Forwarded-For / X-Forwarded-Proto against real uvicorn processes (`sekisho up`)
whose SEKISHO_TRUSTED_PROXIES is empty: nothing it writes there may change its address or its scheme (issue 13,
item 1). uvicorn's own proxy-header handling trusted 127.0.0.1 by default and rewrote both before the gateway's
logic ran, so only real processes show it.

One system per backend for the module (six processes take seconds to start); the login flood runs last, as it
spends this minute's login limit of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sekisho.launcher import free_ports, launch
from shared.clock import SystemClock
from tests.auth.test_staff import staff_token
from tests.conftest import require_postgres
from tests.e2e.test_processes import processes_marked
from tests.gateway.partner_client import sign
from tests.harness import Backend, System, drop_schemas, new_backend
from tests.servers import eventually_async

pytestmark = pytest.mark.e2e

BODY = b'{"ping": 1}'


@dataclass
class Running:
    gateway: str  # http://127.0.0.1:PORT
    env: dict[str, str]  # what the CLI needs to reach this system's databases and keys


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None
) -> Iterator[Running]:
    tmp_path = tmp_path_factory.mktemp("forged")
    if request.param == "postgres":
        require_postgres(postgres_url)
    backend: Backend = new_backend(request.param, tmp_path, postgres_url)
    mark = uuid.uuid4().hex
    (port,) = free_ports(1)
    gateway = f"http://127.0.0.1:{port}"
    env = {
        "SEKISHO_E2E_MARK": mark,
        "SEKISHO_DATA_DIR": str(tmp_path / "var"),
        # No trusted proxy at all: every X-Forwarded-* header below is the caller's invention.
        "SEKISHO_TRUSTED_PROXIES": "",
        "SEKISHO_GATEWAY_URL": gateway,
        # https too, so that only the scheme the connection really had can refuse the partner's signature.
        "SEKISHO_PUBLIC_ORIGINS": f"{gateway},https://127.0.0.1:{port}",
        "SEKISHO_LOG_LEVEL": "WARNING",
    }
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    try:
        with launch(tmp_path, env):
            yield Running(gateway, env)
    finally:
        for pid in processes_marked(mark):
            os.kill(pid, signal.SIGKILL)
        asyncio.run(drop_schemas(backend))


def cli(system: Running, *args: str) -> dict[str, Any]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    environment.update(system.env)
    done = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", *args, "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed: dict[str, Any] = json.loads(done.stdout)
    return printed


@pytest.fixture
async def gateway(system: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.gateway, timeout=10) as client:
        yield client


async def admin_of(system: Running, gateway: httpx.AsyncClient) -> dict[str, str]:
    created = cli(system, "staff", "create", f"admin.{uuid.uuid4().hex[:8]}", "--role", "admin")
    token = await staff_token(System(apps={}, clock=SystemClock(), gateway=gateway), created)
    return {"Authorization": f"Bearer {token}"}


def forged(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def login(gateway: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    # A new unknown login id each time: only the limits on the address are at play, never an account's lockout.
    return await gateway.post(
        "/v1/auth/login",
        json={
            "login_id": f"nobody.{uuid.uuid4().hex[:12]}@example.jp",
            "password": "Wrong-password-1",
            "device_id": "device-attacker-1",
        },
        headers=headers,
    )


@pytest.mark.req("SEC-4")
async def test_an_ip_rule_is_not_bypassed_with_a_forged_x_forwarded_for(
    system: Running, gateway: httpx.AsyncClient
) -> None:
    admin = await admin_of(system, gateway)
    added = []
    try:
        # Customers only from 203.0.113.0/24: the attacker on 127.0.0.1 claims an address inside it.
        rule = {"route_class": "customer", "kind": "allow", "cidr": "203.0.113.0/24", "note": "forged-ip test"}
        answer = await gateway.put("/v1/ops/ip-rules", json=rule, headers=admin)
        assert answer.status_code == 201, answer.text
        added.append(answer.json()["id"])
        refused = await login(gateway, forged("203.0.113.9"))
        assert (refused.status_code, refused.json()["code"]) == (403, "ip_denied"), refused.text
        # 127.0.0.1 denied outright: the attacker claims another address.
        rule = {"route_class": "customer", "kind": "deny", "cidr": "127.0.0.1/32", "note": "forged-ip test"}
        answer = await gateway.put("/v1/ops/ip-rules", json=rule, headers=admin)
        assert answer.status_code == 201, answer.text
        added.append(answer.json()["id"])
        refused = await login(gateway, forged("198.51.100.9"))
        assert (refused.status_code, refused.json()["code"]) == (403, "ip_denied"), refused.text
    finally:
        for rule_id in added:
            assert (await gateway.delete(f"/v1/ops/ip-rules/{rule_id}", headers=admin)).status_code == 200
    assert (await login(gateway, forged("198.51.100.9"))).status_code == 401  # the rules are gone


async def test_a_partner_signature_over_https_does_not_verify_over_plain_http(
    system: Running, gateway: httpx.AsyncClient
) -> None:
    atm = cli(system, "partner", "create", f"atm-{uuid.uuid4().hex[:8]}")

    def signed(scheme: str) -> dict[str, str]:
        url = f"{scheme}://{system.gateway.removeprefix('http://')}/v1/atm/ping"
        created = int(SystemClock().timestamp())
        return {"Content-Type": "application/json", **sign("POST", url, BODY, created=created, **atm_key(atm))}

    assert (await gateway.post("/v1/atm/ping", content=BODY, headers=signed("http"))).status_code == 200
    claimed = await gateway.post(
        "/v1/atm/ping", content=BODY, headers={**signed("https"), "X-Forwarded-Proto": "https"}
    )
    assert claimed.status_code == 401, claimed.text
    assert (claimed.json()["code"], claimed.json()["reason"]) == ("signature_invalid", "mismatch")


@pytest.mark.req("SEC-4")
async def test_a_partners_allowed_network_is_not_entered_with_a_forged_x_forwarded_for(
    system: Running, gateway: httpx.AsyncClient
) -> None:
    atm = cli(system, "partner", "create", f"atm-{uuid.uuid4().hex[:8]}", "--allow", "203.0.113.0/24")
    url = f"{system.gateway}/v1/atm/ping"
    headers = sign("POST", url, BODY, created=int(SystemClock().timestamp()), **atm_key(atm))
    claimed = await gateway.post(
        "/v1/atm/ping", content=BODY, headers={"Content-Type": "application/json", **headers, **forged("203.0.113.5")}
    )
    assert claimed.status_code == 401, claimed.text
    assert (claimed.json()["code"], claimed.json()["reason"]) == ("signature_invalid", "ip_not_allowed")


def atm_key(created: dict[str, Any]) -> dict[str, str]:
    return {"key_id": created["key_id"], "secret": created["secret"]}


async def test_the_audit_trail_records_the_real_peer_not_the_forged_address(
    system: Running, gateway: httpx.AsyncClient
) -> None:
    admin = await admin_of(system, gateway)
    listed = await gateway.get("/v1/ops/kill-switches", headers={**admin, **forged("198.51.100.77")})
    assert listed.status_code == 200, listed.text
    entries: list[dict[str, Any]] = []

    async def audited() -> bool:
        trail = await gateway.get("/v1/ops/audit", params={"action": "kill_switch.list"}, headers=admin)
        entries[:] = trail.json()["entries"]
        return bool(entries)

    await eventually_async(audited, within=20)
    assert {entry["ip"] for entry in entries} == {"127.0.0.1"}


async def test_fresh_x_forwarded_for_values_do_not_escape_the_login_limit(
    system: Running, gateway: httpx.AsyncClient
) -> None:
    """45 logins, each claiming a new address, as in the issue. 20 a minute per IP is the gateway's default limit;
    two fixed windows can split them, but not so that neither holds more than 20 (and past 30 failures from one
    address in 10 minutes auth's own throttle refuses too)."""
    admin = await admin_of(system, gateway)
    statuses, codes = [], set()
    for n in range(45):
        answer = await login(gateway, forged(f"198.51.{n}.{n + 1}"))
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            codes.add(answer.json()["code"])
            assert int(answer.headers["Retry-After"]) >= 1
    assert 429 in statuses, statuses
    assert set(statuses) <= {401, 429}, statuses
    assert "rate_limited" in codes, codes
    # fraud's events of these failed logins name the real peer, never an invented address.
    events: list[dict[str, Any]] = []

    async def recorded() -> bool:
        found = await gateway.get("/v1/ops/fraud/events", params={"type": "login_failed"}, headers=admin)
        events[:] = found.json()["events"]
        return len(events) >= statuses.count(401)

    await eventually_async(recorded, within=20)
    assert {event["ip"] for event in events} == {"127.0.0.1"}
