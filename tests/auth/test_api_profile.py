"""The signed-in customer: profile changes told to both contacts, enrolment needing MFA, no TOTP replay."""

from __future__ import annotations

import re

import httpx
import pyotp
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import PHONE, full_login, login, stepped_up
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


# --- contact verification (issue 16): the new contact proves itself; the notices tell old and new apart ----------


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


async def start_change(system: System, sms: SmsSink, tokens: dict[str, object], body: dict[str, str]) -> str:
    """PATCH /v1/me stepped up by an SMS code to the phone registered now: the pending change's id."""
    changed = await stepped_up(
        system, sms, lambda grant: system.gateway.patch("/v1/me", json=body, headers={**bearer(tokens), **grant})
    )
    assert changed.status_code == 200, changed.text
    change_id: str = changed.json()["pending"]["change_id"]
    return change_id


def change_notices(smtp: SmtpSink, address: str) -> list[str]:
    """The attribute_changed notices to `address` (not the code mails, whose subject names a change too)."""
    return [text for m in smtp.to(address) if "変更前：" in (text := m.get_content())]


@pytest.mark.req("AUTH-ATTR-2")
async def test_an_email_change_notice_names_old_and_new_masked_and_told_apart_to_both_addresses(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    new = "hikari.sato@example.jp"  # the usual mask (h***@example.jp) would show both alike
    change_id = await start_change(system, sms, tokens, {"email": new})
    await eventually(lambda: len(smtp.to(new)) == 1)
    code = code_in(smtp.to(new)[0].get_content())
    verified = await system.gateway.post(
        f"/v1/me/contacts/{change_id}/verify", json={"code": code}, headers=bearer(tokens)
    )
    assert verified.status_code == 200, verified.text
    await eventually(lambda: len(change_notices(smtp, CUSTOMER["email"])) == 1 and len(change_notices(smtp, new)) == 1)
    for notice in (change_notices(smtp, CUSTOMER["email"])[0], change_notices(smtp, new)[0]):
        shown_old = re.search(r"変更前：(\S+)", notice)
        shown_new = re.search(r"変更後：(\S+)", notice)
        assert shown_old is not None, notice
        assert shown_new is not None, notice
        assert shown_old.group(1) != shown_new.group(1)  # distinguishable
        assert (shown_old.group(1), shown_new.group(1)) == ("ha***o@example.jp", "hi***o@example.jp")
        assert CUSTOMER["email"] not in notice
        assert new not in notice


@pytest.mark.req("AUTH-ATTR-2")
async def test_a_phone_change_notice_names_both_numbers_by_their_last_4_digits_and_told_apart(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    new_phone = "+818011115678"  # the same last 4 digits as 090-1234-5678
    before = len([m for m in sms.received if m.to == new_phone])
    change_id = await start_change(system, sms, tokens, {"phone": "080-1111-5678"})
    await eventually(lambda: len([m for m in sms.received if m.to == new_phone]) > before)
    code = code_in([m for m in sms.received if m.to == new_phone][-1].body)
    verified = await system.gateway.post(
        f"/v1/me/contacts/{change_id}/verify", json={"code": code}, headers=bearer(tokens)
    )
    assert verified.status_code == 200, verified.text
    # Both copies (to the old and to the new contact) go by e-mail to the address registered.
    await eventually(lambda: len(change_notices(smtp, CUSTOMER["email"])) == 2)
    for notice in change_notices(smtp, CUSTOMER["email"]):
        assert "変更前：090-****-5678" in notice
        assert "変更後：080-****-5678" in notice
        assert "1234" not in notice
        assert "1111" not in notice


async def test_a_code_for_one_pending_change_does_not_verify_another_and_an_unverified_change_leaves_the_old_contact(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    # Just after an hour begins: the clock moves minutes on below, and the notice of a password used on a new device
    # goes once per clock hour (password_alerts.py); crossing an hour sent a second one the checks below then read.
    system.clock.advance(3600 - system.clock.timestamp() % 3600 + 1)  # type: ignore[attr-defined]
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    new_email, new_phone = "hanako.alt@example.com", "+818022223333"
    email_change = await start_change(system, sms, tokens, {"email": new_email})
    await eventually(lambda: len(smtp.to(new_email)) == 1)
    email_code = code_in(smtp.to(new_email)[0].get_content())
    system.clock.advance(31)  # type: ignore[attr-defined]  # the next step-up code may be sent
    before = len([m for m in sms.received if m.to == new_phone])
    phone_change = await start_change(system, sms, tokens, {"phone": "080-2222-3333"})
    await eventually(lambda: len([m for m in sms.received if m.to == new_phone]) > before)
    phone_code = code_in([m for m in sms.received if m.to == new_phone][-1].body)
    assert phone_code != email_code

    # Each code answers its own change only.
    crossed = [
        await system.gateway.post(f"/v1/me/contacts/{change}/verify", json={"code": code}, headers=bearer(tokens))
        for change, code in ((phone_change, email_code), (email_change, phone_code))
    ]
    assert [(r.status_code, r.json()["code"]) for r in crossed] == [(401, "challenge_failed")] * 2
    me = (await system.gateway.get("/v1/me", headers=bearer(tokens))).json()
    assert (me["email"], me["phone"]) == (CUSTOMER["email"], PHONE)

    # Another customer cannot verify Hanako's change, even with its right code: not found, as if none.
    await open_account(system.gateway, email="taro.yamada@example.jp", phone="080-4444-5555")
    taro_first = await login(system.gateway, login_id="taro.yamada@example.jp", device="device-taro")
    taro_challenge = taro_first.json()["challenge"]["id"]
    sent = await system.gateway.post(f"/v1/auth/challenges/{taro_challenge}/send", json={"method": "sms"})
    assert sent.status_code == 202
    await eventually(lambda: any(m.to == "+818044445555" for m in sms.received))
    taro_code = code_in([m for m in sms.received if m.to == "+818044445555"][-1].body)
    taro = (
        await system.gateway.post(
            f"/v1/auth/challenges/{taro_challenge}/verify", json={"method": "sms", "code": taro_code}
        )
    ).json()
    stolen = await system.gateway.post(
        f"/v1/me/contacts/{email_change}/verify", json={"code": email_code}, headers=bearer(taro)
    )
    missing = await system.gateway.post(
        "/v1/me/contacts/ccg_doesnotexist0000000000/verify", json={"code": email_code}, headers=bearer(taro)
    )
    assert (stolen.status_code, stolen.json()["code"]) == (missing.status_code, missing.json()["code"])
    assert stolen.status_code == 404

    # Never verified: once the change has expired its right code does nothing, and the old contacts stay in force.
    system.clock.advance(minutes=6)  # type: ignore[attr-defined]
    refreshed = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    tokens = refreshed.json()
    late = await system.gateway.post(
        f"/v1/me/contacts/{email_change}/verify", json={"code": email_code}, headers=bearer(tokens)
    )
    assert late.status_code == 410
    assert (await login(system.gateway, login_id=new_email)).json()["code"] == "invalid_credentials"
    notices_before = len(smtp.to(CUSTOMER["email"]))
    from_new_device = await login(system.gateway, device="device-new-0009")
    challenge_id = from_new_device.json()["challenge"]["id"]
    count = len([m for m in sms.received if m.to == PHONE])
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202
    await eventually(lambda: len([m for m in sms.received if m.to == PHONE]) > count)  # the old phone gets the code
    code = code_in([m for m in sms.received if m.to == PHONE][-1].body)
    assert (
        await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
    ).status_code == 200
    await eventually(lambda: len(smtp.to(CUSTOMER["email"])) > notices_before)
    assert "新しい端末" in (smtp.to(CUSTOMER["email"])[-1]["Subject"] or "")  # to the old address
    assert all("新しい端末" not in (m["Subject"] or "") for m in smtp.to(new_email))
    assert not [m for m in sms.received if m.to == new_phone and "ログイン" in m.body]
