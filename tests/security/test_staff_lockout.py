"""Issue 13 items 3 and 6: staff lock out like customers (sooner, lifted by an admin), every failed staff password and
TOTP code is in the audit trail, and staff sign-in has a route of its own that no kill switch, customer IP rule or
fraud list can block.

Before: 30 wrong passwords and 20 wrong TOTP codes, then a normal sign-in worked and nothing was audited; and the
staff TOTP verify went through the customer `challenge` operation, so a kill switch on it locked every staff out.
"""

from __future__ import annotations

from typing import Any

import httpx
import pyotp

from shared.clock import FrozenClock
from tests.auth.conftest import open_account
from tests.auth.test_api_login import login
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System
from tests.servers import eventually_async


def attacker(system: System, ip: str = "203.0.113.66") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(system.apps["gateway"], client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def staff_login(
    client: httpx.AsyncClient, created: dict[str, str], password: str | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/ops/auth/login",
        json={"login_id": created["login_id"], "password": created["password"] if password is None else password},
    )


def wrong_totp(created: dict[str, str], at: float, n: int) -> str:
    totp = pyotp.TOTP(created["totp_secret"])
    near = {totp.at(at + step * 30) for step in (-1, 0, 1)}
    guesses = (f"{(n * 7919 + k) % 1_000_000:06d}" for k in range(10))
    return next(guess for guess in guesses if guess not in near)


async def sign_in(system: System, client: httpx.AsyncClient, created: dict[str, str]) -> httpx.Response:
    """Password, then the TOTP code at the staff route the login answer names."""
    first = await staff_login(client, created)
    if first.status_code != 401 or first.json()["code"] != "mfa_required":
        return first
    code = pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())
    return await client.post(first.json()["challenge"]["verify"], json={"method": "totp", "code": code})


async def bearer(system: System, created: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await staff_token(system, created)}"}


async def audit(system: System, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await system.gateway.get("/v1/ops/audit", params={**params, "limit": 1000}, headers=admin)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_thirty_wrong_staff_passwords_lock_until_an_admin_unlocks_and_every_one_is_audited(
    system: System,
) -> None:
    admin_staff = await make_staff(system, "admin.kudo", "admin")
    target = await make_staff(system, "supervisor.abe", "supervisor")
    clock = system.clock
    assert isinstance(clock, FrozenClock)
    statuses = []
    async with attacker(system) as client:
        for i in range(30):
            statuses.append((await staff_login(client, target, password=f"Guess-{i}-Pw!")).status_code)
            clock.advance(minutes=2)  # spread over an hour: neither the gateway's nor auth's flood limit decides
    assert statuses[:3] == [401, 401, 423]  # a short lock after 3
    assert statuses.count(401) == 2 + 1  # one more try once it passed, and the 5th failure locks for good
    last_tried = max(i for i, status in enumerate(statuses) if status == 401)
    assert set(statuses[last_tried + 1 :]) == {423}
    # The real staff member, with the right password and code, cannot sign in: the lock outlasts any wait.
    clock.advance(days=7)
    refused = await sign_in(system, system.gateway, target)
    assert (refused.status_code, refused.json()["code"], refused.json()["locked_until"]) == (
        423,
        "account_locked",
        None,
    )
    # Every failed password is in the trail, the refused ones too, and who was locked.
    admin = await bearer(system, admin_staff)
    failed = await audit(system, admin, action="staff.login_failed")
    staff_id = failed[0]["target_id"]
    assert staff_id.startswith("stf")
    mine = [entry for entry in failed if entry["target_id"] == staff_id]
    assert len(mine) == 31  # 30 by the attacker, 1 by the real staff member
    assert {entry["ip"] for entry in mine} == {"203.0.113.66", "127.0.0.1"}
    assert {entry["detail"]["stage"] for entry in mine} == {"password"}
    assert len(await audit(system, admin, action="staff.locked", target_id=staff_id)) == 2
    # An admin lifts it (audited); the staff member signs in again.
    assert (await system.gateway.post(f"/v1/ops/staff/{staff_id}/unlock", headers=admin)).status_code == 200
    assert (await sign_in(system, system.gateway, target)).status_code == 200
    assert len(await audit(system, admin, action="staff.unlock", target_id=staff_id)) == 1


async def test_twenty_wrong_totp_codes_lock_the_staff_member_even_with_the_right_password(system: System) -> None:
    admin_staff = await make_staff(system, "admin.hara", "admin")
    target = await make_staff(system, "analyst.endo", "analyst")
    clock = system.clock
    assert isinstance(clock, FrozenClock)
    answers: list[int] = []
    async with attacker(system) as client:
        challenge: str | None = None
        for n in range(20):
            if challenge is None:
                first = await staff_login(client, target)  # the thief has the password
                if first.status_code == 423:
                    answers.append(423)
                    clock.advance(minutes=2)
                    continue
                assert first.json()["code"] == "mfa_required", first.text
                challenge = first.json()["challenge"]["verify"]
            verified = await client.post(
                challenge, json={"method": "totp", "code": wrong_totp(target, clock.timestamp(), n)}
            )
            answers.append(verified.status_code)
            if verified.status_code != 401 or verified.json()["attempts_left"] == 0:
                challenge = None
            clock.advance(minutes=2)
    assert "access_token" not in str(answers)
    assert answers.count(401) == 5  # 3, a short lock, 2 more: locked until an admin lifts it
    clock.advance(days=7)
    refused = await sign_in(system, system.gateway, target)
    assert (refused.status_code, refused.json()["code"]) == (423, "account_locked")
    admin = await bearer(system, admin_staff)
    totp_failures = [
        e for e in await audit(system, admin, action="staff.login_failed") if e["detail"]["stage"] == "totp"
    ]
    assert len(totp_failures) == 5
    assert all(entry["target_id"].startswith("stf") and entry["ip"] == "203.0.113.66" for entry in totp_failures)


async def test_an_unknown_staff_login_id_answers_as_a_known_one(system: System) -> None:
    target = await make_staff(system, "analyst.ueda", "analyst")
    ghost = {**target, "login_id": "analyst.nobody"}
    async with attacker(system) as client:
        known = [(await staff_login(client, target, password=f"Guess-{i}x")).json() for i in range(4)]
        unknown = [(await staff_login(client, ghost, password=f"Guess-{i}x")).json() for i in range(4)]
    assert (
        [a["code"] for a in known]
        == [a["code"] for a in unknown]
        == [
            "invalid_credentials",
            "invalid_credentials",
            "account_locked",
            "account_locked",
        ]
    )
    assert known == unknown


async def test_staff_sign_in_works_under_a_challenge_kill_switch_a_customer_ip_rule_and_frauds_ip_list(
    system: System,
) -> None:
    """The staff member signs in from 127.0.0.1, which every customer-facing control refuses."""
    admin = {"Authorization": f"Bearer {await staff_token(system, await make_staff(system, 'admin.mori', 'admin'))}"}
    supervisor = await make_staff(system, "supervisor.mori", "supervisor")
    stop = {"active": True, "reason": "INC-2026-12: code flood"}
    assert (await system.gateway.put("/v1/ops/kill-switches/challenge", json=stop, headers=admin)).status_code == 200
    rule = {"route_class": "customer", "kind": "deny", "cidr": "127.0.0.0/24", "note": "incident"}
    assert (await system.gateway.put("/v1/ops/ip-rules", json=rule, headers=admin)).status_code == 201
    entry = {"value": "127.0.0.1", "note": "flagged by a rule"}
    listed = await system.gateway.put("/v1/ops/fraud/lists/ips/entries", json=entry, headers=admin)
    assert listed.status_code in (200, 201), listed.text
    customer = await system.gateway.post(f"/v1/auth/challenges/chl_{'0' * 26}/verify", json={})
    assert (customer.status_code, customer.json()["code"]) == (403, "ip_denied")  # customers' routes are shut
    # Make sure fraud's list is in force at the gateway, not only the rule: lift the rule, the door stays shut.
    rules = (await system.gateway.get("/v1/ops/ip-rules", headers=admin)).json()["ip_rules"]
    assert (await system.gateway.delete(f"/v1/ops/ip-rules/{rules[0]['id']}", headers=admin)).status_code == 200

    async def fraud_list_applies() -> bool:
        response = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": "rt_" + "0" * 40})
        return response.status_code == 403

    await eventually_async(fraud_list_applies, within=5)
    assert (await system.gateway.put("/v1/ops/ip-rules", json=rule, headers=admin)).status_code == 201

    signed_in = await sign_in(system, system.gateway, supervisor)
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    customer_id = await _customer_opened_elsewhere(system)
    view = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers={"Authorization": f"Bearer {token}"})
    assert view.status_code == 200


async def _customer_opened_elsewhere(system: System) -> str:
    async with attacker(system, "198.51.100.20") as client:
        return await open_account(client)


async def test_staff_and_customer_challenges_are_answered_only_at_their_own_routes(system: System) -> None:
    supervisor = await make_staff(system, "supervisor.sano", "supervisor")
    first = await staff_login(system.gateway, supervisor)
    staff_challenge = first.json()["challenge"]
    assert staff_challenge["verify"] == f"/v1/ops/auth/challenges/{staff_challenge['id']}/verify"
    code = pyotp.TOTP(supervisor["totp_secret"]).at(system.clock.timestamp())
    at_customer_route = await system.gateway.post(
        f"/v1/auth/challenges/{staff_challenge['id']}/verify", json={"method": "totp", "code": code}
    )
    assert (at_customer_route.status_code, at_customer_route.json()["code"]) == (404, "challenge_not_found")
    sent = await system.gateway.post(f"/v1/auth/challenges/{staff_challenge['id']}/send", json={"method": "sms"})
    assert (sent.status_code, sent.json()["code"]) == (404, "challenge_not_found")

    await open_account(system.gateway)
    customer_challenge = (await login(system.gateway)).json()["challenge"]["id"]
    at_staff_route = await system.gateway.post(
        f"/v1/ops/auth/challenges/{customer_challenge}/verify", json={"method": "sms", "code": "123456"}
    )
    assert (at_staff_route.status_code, at_staff_route.json()["code"]) == (404, "challenge_not_found")
    # The staff challenge was not spent by the refused answers.
    assert (
        await system.gateway.post(staff_challenge["verify"], json={"method": "totp", "code": code})
    ).status_code == 200


async def test_when_every_admin_is_locked_out_the_operator_unlocks_one_from_the_server(
    system: System, backend: Backend
) -> None:
    """Guessable staff login ids make every admin lockable by a stranger: `sekisho staff unlock` is the way back."""
    import asyncio
    import subprocess
    import sys

    from tests.cli.test_partner_cli import environment

    admin_staff = await make_staff(system, "admin.only", "admin")
    clock = system.clock
    assert isinstance(clock, FrozenClock)
    async with attacker(system) as client:
        for i in range(5):
            await staff_login(client, admin_staff, password=f"Guess-{i}-Pw!")
            clock.advance(minutes=16)  # past the short lock after the 3rd
    assert (await sign_in(system, system.gateway, admin_staff)).status_code == 423
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sekisho.cli", "staff", "unlock", "admin.only"],
        env=environment(backend),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (await sign_in(system, system.gateway, admin_staff)).status_code == 200
    clock.advance(31)  # a TOTP code is good once: the next sign-in needs the next one
    admin = await bearer(system, admin_staff)
    (entry,) = await audit(system, admin, action="staff.unlock")
    assert (entry["actor_id"], entry["actor_role"]) == ("operator", "operator")
