"""Staff: password and TOTP always; tokens carry the role; a role too low is refused at the gateway and at auth."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from services.auth.hashing import PasswordHasher
from services.auth.staff import create_staff
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import open_account
from tests.harness import Backend, System, client_for, identity_issuer


async def make_staff(system: System, login_id: str, role: str) -> dict[str, str]:
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        return await create_staff(
            session, login_id=login_id, role=role, hasher=PasswordHasher(), cipher=state.cipher, now=system.clock.now()
        )


async def staff_token(system: System, created: dict[str, str]) -> str:
    token: str = (await staff_tokens(system, created))["access_token"]
    return token


async def staff_tokens(system: System, created: dict[str, str]) -> dict[str, Any]:
    """Password, then the TOTP code: the shift's tokens (access, refresh, session id)."""
    first = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": created["password"]}
    )
    assert first.status_code == 401
    challenge = first.json()["challenge"]
    code = pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())
    assert challenge["verify"] == f"/v1/ops/auth/challenges/{challenge['id']}/verify"
    verified = await system.gateway.post(challenge["verify"], json={"method": "totp", "code": code})
    assert verified.status_code == 200, verified.text
    tokens: dict[str, Any] = verified.json()
    return tokens


async def test_a_staff_login_without_totp_gets_no_token(system: System) -> None:
    created = await make_staff(system, "analyst.tanaka", "analyst")
    response = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": created["password"]}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_required"
    assert response.json()["challenge"]["methods"] == ["totp"]
    assert "access_token" not in response.text
    wrong = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": "not-the-password"}
    )
    assert wrong.json()["code"] == "invalid_credentials"


@pytest.mark.req("DATA-1", "DATA-3")
async def test_an_analyst_sees_masked_data_and_is_refused_on_a_supervisor_route_at_gateway_and_service(
    system: System,
) -> None:
    customer_id = await open_account(system.gateway)
    token = await staff_token(system, await make_staff(system, "analyst.sato", "analyst"))
    headers = {"Authorization": f"Bearer {token}"}
    view = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=headers)
    assert view.status_code == 200
    assert view.json()["email"] == "h***@example.jp"
    assert view.json()["phone"] == "***-****-5678"
    at_gateway = await system.gateway.post(f"/v1/ops/customers/{customer_id}/lock", headers=headers)
    assert at_gateway.status_code == 403
    # A call that somehow bypassed the gateway's check is refused by auth itself.
    claims = system.apps["gateway"].state.service.runtime.bearer
    verifier = await claims._keys(refresh=False)
    from services.gateway.bearer import identity_context

    context = identity_context(verifier.verify(token, subject_type="staff"))
    issuer = identity_issuer("gateway", system.clock)
    async with client_for(system.apps["auth"]) as auth:
        direct = await auth.post(
            f"/v1/ops/customers/{customer_id}/lock", headers={IDENTITY_HEADER: issuer.issue("auth", context)}
        )
    assert direct.status_code == 403
    assert direct.json()["code"] == "forbidden"


async def test_a_supervisor_locks_a_customer_and_every_session_ends(system: System) -> None:
    customer_id = await open_account(system.gateway)
    token = await staff_token(system, await make_staff(system, "supervisor.ito", "supervisor"))
    locked = await system.gateway.post(
        f"/v1/ops/customers/{customer_id}/lock", headers={"Authorization": f"Bearer {token}"}
    )
    assert locked.status_code == 200
    login = await system.gateway.post(
        "/v1/auth/login",
        json={"login_id": "hanako.sato@example.jp", "password": "Kiso-Mikan-42!", "device_id": "device-iphone-0001"},
    )
    assert login.status_code == 423


async def test_staff_routes_refuse_a_missing_or_malformed_token(system: System) -> None:
    customer_id = await open_account(system.gateway)
    missing = await system.gateway.get(f"/v1/ops/customers/{customer_id}")
    malformed = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers={"Authorization": "Bearer x.y.z"})
    assert (missing.status_code, malformed.status_code) == (401, 401)
    assert malformed.json()["reason"] == "malformed"


async def test_a_revoked_staff_token_stops_working(system: System) -> None:
    customer_id = await open_account(system.gateway)
    token = await staff_token(system, await make_staff(system, "analyst.mori", "analyst"))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=headers)).status_code == 200
    assert (await system.gateway.post("/v1/ops/auth/logout", headers=headers)).status_code == 200
    system.clock.advance(6)  # type: ignore[attr-defined]
    after = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=headers)
    assert after.status_code == 401
    assert after.json()["reason"] == "session_ended"


async def test_an_analyst_reads_delivery_status_through_the_gateway(system: System) -> None:
    await open_account(system.gateway)
    token = await staff_token(system, await make_staff(system, "analyst.kato", "analyst"))
    response = await system.gateway.get("/v1/ops/notifications", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    refused = await system.gateway.get("/v1/ops/notifications")
    assert refused.status_code == 401


# --- sessions that last a shift (issue 16): refresh, idle timeout, shift limit ------------------------------------


def advance(system: System, **delta: float) -> None:
    system.clock.advance(**delta)  # type: ignore[attr-defined]


async def refresh(system: System, refresh_token: str) -> Any:
    return await system.gateway.post("/v1/ops/auth/refresh", json={"refresh_token": refresh_token})


async def read_customer(system: System, customer_id: str, tokens: dict[str, Any]) -> int:
    response = await system.gateway.get(
        f"/v1/ops/customers/{customer_id}", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    return response.status_code


async def test_a_staff_session_lasts_the_shift_with_refreshes_and_not_a_minute_more(system: System) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await staff_tokens(system, await make_staff(system, "analyst.shift", "analyst"))
    assert tokens["refresh_token"]
    assert tokens["expires_in"] <= 600  # the access token stays short
    # A working day: a refresh (and a read) every 20 minutes, to 9 h 59 min after the sign-in.
    for _ in range(29):
        advance(system, minutes=20)
        refreshed = await refresh(system, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["session_id"] == tokens["session_id"]
        tokens = refreshed.json()
        assert await read_customer(system, customer_id, tokens) == 200
    advance(system, minutes=19)  # 9 h 59 min
    last = await refresh(system, tokens["refresh_token"])
    assert last.status_code == 200, last.text
    assert last.json()["expires_in"] <= 60  # the access token does not outlive the shift
    assert await read_customer(system, customer_id, last.json()) == 200
    advance(system, minutes=1)  # 10 h
    over = await refresh(system, last.json()["refresh_token"])
    assert over.status_code == 401
    assert (over.json()["code"], over.json()["reason"]) == ("session_expired", "shift_ended")
    again = await refresh(system, last.json()["refresh_token"])
    assert again.status_code == 401  # ended for good: only a new password and TOTP sign-in


async def test_a_staff_session_idle_past_its_timeout_is_refused_and_requests_count_as_activity(
    system: System,
) -> None:
    customer_id = await open_account(system.gateway)
    created = await make_staff(system, "analyst.idle", "analyst")
    idle = await staff_tokens(system, created)
    advance(system, minutes=31)
    refused = await refresh(system, idle["refresh_token"])
    assert refused.status_code == 401
    assert (refused.json()["code"], refused.json()["reason"]) == ("session_expired", "idle_timeout")

    advance(system, seconds=30)  # a new TOTP step for the next sign-in
    busy = await staff_tokens(system, created)
    advance(system, minutes=4)
    assert await read_customer(system, customer_id, busy) == 200  # a request: the idle timeout starts again
    advance(system, minutes=29)  # 33 min after the sign-in, 29 after the request
    assert (await refresh(system, busy["refresh_token"])).status_code == 200


async def test_a_reused_staff_refresh_token_ends_the_session(system: System) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await staff_tokens(system, await make_staff(system, "analyst.reuse", "analyst"))
    rotated = await refresh(system, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    stolen = await refresh(system, tokens["refresh_token"])
    assert stolen.status_code == 401
    assert stolen.json()["code"] == "token_reused"
    assert (await refresh(system, rotated.json()["refresh_token"])).status_code == 401  # the family died
    advance(system, seconds=6)  # the gateway's session check
    assert await read_customer(system, customer_id, rotated.json()) == 401


async def test_staff_and_customer_refresh_tokens_work_only_at_their_own_route(system: System) -> None:
    staff = await staff_tokens(system, await make_staff(system, "analyst.cross", "analyst"))
    at_customer_route = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": staff["refresh_token"]})
    assert at_customer_route.status_code == 401
    assert at_customer_route.json()["code"] == "token_invalid"
    assert (await refresh(system, staff["refresh_token"])).status_code == 200  # not used up by the attempt
    assert (await refresh(system, "A" * 43)).status_code == 401  # a token never issued


async def test_logout_ends_the_staff_session_and_its_refresh_token_at_once(system: System) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await staff_tokens(system, await make_staff(system, "analyst.out", "analyst"))
    assert await read_customer(system, customer_id, tokens) == 200
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    out = await system.gateway.post("/v1/ops/auth/logout", headers=headers)
    assert out.status_code == 200
    assert "sekisho-sessions-ended" not in out.headers
    assert await read_customer(system, customer_id, tokens) == 401  # no wait for the session check
    refused = await refresh(system, tokens["refresh_token"])
    assert refused.status_code == 401


async def test_locking_or_disabling_a_staff_member_ends_their_sessions(system: System, backend: Backend) -> None:
    from sekisho.staff import disable
    from services.auth.settings import AuthSettings

    customer_id = await open_account(system.gateway)
    # Wrong passwords lock new sign-ins out, but a shift signed in with password and TOTP goes on: whoever knows a
    # staff login id must not be able to sign that member out by typing at it.
    typed_at = await make_staff(system, "analyst.typedat", "analyst")
    working = await staff_tokens(system, typed_at)
    for attempt in range(3):  # the staff rule: a lock after 3 failures
        wrong = await system.gateway.post(
            "/v1/ops/auth/login", json={"login_id": typed_at["login_id"], "password": f"guess-{attempt}-x"}
        )
        assert wrong.status_code in (401, 423)
    locked_out = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": typed_at["login_id"], "password": typed_at["password"]}
    )
    assert locked_out.status_code == 423, locked_out.text
    advance(system, seconds=6)
    assert await read_customer(system, customer_id, working) == 200
    assert (await refresh(system, working["refresh_token"])).status_code == 200

    # Wrong TOTP codes after the right password: someone holds the password, and the member's sessions end.
    guessed = await make_staff(system, "analyst.guessed", "analyst")
    tokens = await staff_tokens(system, guessed)
    for _ in range(3):
        started = await system.gateway.post(
            "/v1/ops/auth/login", json={"login_id": guessed["login_id"], "password": guessed["password"]}
        )
        if started.status_code == 423:
            break
        challenge = started.json()["challenge"]
        right = int(pyotp.TOTP(guessed["totp_secret"]).at(system.clock.timestamp()))
        wrong_totp = f"{(right + 1) % 1_000_000:06d}"
        wrong_code = await system.gateway.post(challenge["verify"], json={"method": "totp", "code": wrong_totp})
        assert wrong_code.status_code in (401, 423), wrong_code.text
    advance(system, seconds=6)
    assert await read_customer(system, customer_id, tokens) == 401
    assert (await refresh(system, tokens["refresh_token"])).status_code == 401

    leaver = await make_staff(system, "analyst.leaver", "analyst")
    kept = await staff_tokens(system, leaver)
    # `sekisho staff disable analyst.leaver`, run in-process on the test's database.
    settings = backend.settings("auth")
    assert isinstance(settings, AuthSettings)
    assert await disable(settings, login_id="analyst.leaver") == 1
    assert await disable(settings, login_id="nobody") is None
    advance(system, seconds=6)
    assert await read_customer(system, customer_id, kept) == 401
    refused = await refresh(system, kept["refresh_token"])
    assert refused.status_code == 401
