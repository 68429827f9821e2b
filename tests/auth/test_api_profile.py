"""The signed-in customer: profile changes told to both contacts, enrolment needing MFA, no TOTP replay."""

from __future__ import annotations

import re

import httpx
import pyotp
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import full_login, login, stepped_up
from tests.harness import System
from tests.servers import eventually


def bearer(tokens: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_profile_routes_need_an_access_token(system: System) -> None:
    response = await system.gateway.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    forged = await system.gateway.get("/v1/me", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    assert forged.status_code == 401


@pytest.mark.req("AUTH-ATTR-2", "DATA-2")
async def test_an_email_change_is_told_to_the_old_and_the_new_address(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    me = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert me.json()["email"] == CUSTOMER["email"]
    changed = await stepped_up(
        system,
        sms,
        lambda grant: system.gateway.patch(
            "/v1/me", json={"email": "hanako.new@example.com"}, headers={**bearer(tokens), **grant}
        ),
    )
    assert changed.status_code == 200, changed.text
    # The new address proves itself with the code sent to it before the change takes effect.
    await eventually(lambda: len(smtp.to("hanako.new@example.com")) == 1)
    code = re.search(r"\b(\d{6})\b", smtp.to("hanako.new@example.com")[0].get_content())
    assert code is not None
    change_id = changed.json()["pending"]["change_id"]
    verified = await system.gateway.post(
        f"/v1/me/contacts/{change_id}/verify", json={"code": code.group(1)}, headers=bearer(tokens)
    )
    assert verified.status_code == 200, verified.text
    await eventually(lambda: len(smtp.to("hanako.new@example.com")) == 2)
    await eventually(lambda: any("変更" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    to_old = [m for m in smtp.to(CUSTOMER["email"]) if "変更" in (m["Subject"] or "")][-1].get_content()
    assert "hanako.new@example.com" not in to_old  # masked (DATA-1)
    assert (await login(system.gateway, login_id="hanako.new@example.com")).status_code == 200


@pytest.mark.req("AUTH-PW-1")
async def test_a_password_change_follows_the_policy_and_ends_other_sessions(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    first = await full_login(system, sms)
    second = await full_login(system, sms, device="device-ipad-0002")

    async def change_to(new_password: str) -> httpx.Response:
        body = {"current_password": CUSTOMER["password"], "new_password": new_password}
        return await stepped_up(
            system,
            sms,
            lambda grant: system.gateway.put("/v1/me/password", json=body, headers={**bearer(second), **grant}),
        )

    weak = await change_to("password1")
    assert weak.status_code == 422
    assert weak.json()["code"] == "password_policy"
    good = await change_to("Yuzu-Hikari-77?")
    assert good.status_code == 200
    assert good.json()["other_sessions_ended"] >= 1
    assert (
        await system.gateway.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401


@pytest.mark.req("AUTH-LOGIN-1")
async def test_an_authenticator_is_enrolled_only_from_an_mfa_session_and_a_used_code_is_refused_again(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    mfa = await full_login(system, sms)
    password_only = (await login(system.gateway)).json()  # the same device: one factor now
    refused = await system.gateway.post("/v1/auth/totp", headers=bearer(password_only))
    assert refused.status_code == 401  # the password alone never enrols: a possession factor must be proven
    assert refused.json()["code"] == "step_up_required"
    started = await stepped_up(
        system, sms, lambda grant: system.gateway.post("/v1/auth/totp", headers={**bearer(mfa), **grant})
    )
    assert started.status_code == 201
    secret = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    now = system.clock.timestamp()
    confirmed = await system.gateway.post(
        "/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).at(now)}, headers=bearer(mfa)
    )
    assert confirmed.status_code == 200
    await eventually(lambda: any("認証" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    system.clock.advance(31)  # type: ignore[attr-defined]
    code = pyotp.TOTP(secret).at(system.clock.timestamp())
    challenge = (await login(system.gateway, device="device-new-0003")).json()["challenge"]
    assert "totp" in challenge["methods"]
    ok = await system.gateway.post(
        f"/v1/auth/challenges/{challenge['id']}/verify", json={"method": "totp", "code": code}
    )
    assert ok.status_code == 200
    again = (await login(system.gateway, device="device-new-0004")).json()["challenge"]
    replay = await system.gateway.post(
        f"/v1/auth/challenges/{again['id']}/verify", json={"method": "totp", "code": code}
    )
    assert replay.status_code == 401
