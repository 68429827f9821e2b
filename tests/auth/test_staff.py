"""Staff: password and TOTP always; tokens carry the role; a role too low is refused at the gateway and at auth."""

from __future__ import annotations

import pyotp
import pytest

from services.auth.hashing import PasswordHasher
from services.auth.staff import create_staff
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import open_account
from tests.harness import System, client_for, identity_issuer


async def make_staff(system: System, login_id: str, role: str) -> dict[str, str]:
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        return await create_staff(
            session, login_id=login_id, role=role, hasher=PasswordHasher(), cipher=state.cipher, now=system.clock.now()
        )


async def staff_token(system: System, created: dict[str, str]) -> str:
    first = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": created["password"]}
    )
    assert first.status_code == 401
    challenge = first.json()["challenge"]
    code = pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())
    assert challenge["verify"] == f"/v1/ops/auth/challenges/{challenge['id']}/verify"
    verified = await system.gateway.post(challenge["verify"], json={"method": "totp", "code": code})
    assert verified.status_code == 200, verified.text
    token: str = verified.json()["access_token"]
    return token


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
