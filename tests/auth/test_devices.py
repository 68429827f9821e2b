"""Removing a device, through the gateway: stepped up for that very device, its sessions refused at once, the
next login from it a new device's, the customer and fraud told; another customer's device is not found."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import select

from sekisho.sinks import SmsSink, SmtpSink
from services.auth.models import auth_session
from services.fraud.models import event
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import DEVICE, PHONE, code_by_sms, full_login, grant_by_sms, login
from tests.harness import System
from tests.servers import eventually, eventually_async

ANDROID = "device-android-0002"
TARO_PHONE = "+818022223333"


def bearer(tokens: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def device_ids(system: System, tokens: dict[str, object]) -> dict[str, str]:
    """The customer's listed devices: user agent is the same for all, so by id -> trusted."""
    listed = await system.gateway.get("/v1/me/devices", headers=bearer(tokens))
    assert listed.status_code == 200, listed.text
    return {item["id"]: item["last_ip"] for item in listed.json()}


async def device_of(system: System, tokens: dict[str, object]) -> str:
    """The device id of the session these tokens belong to."""
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        found = (
            await session.execute(select(auth_session.c.device_id).where(auth_session.c.id == tokens["session_id"]))
        ).scalar()
    assert isinstance(found, str)
    return found


async def remove(
    system: System, sms: SmsSink, tokens: dict[str, object], device_id: str
) -> tuple[httpx.Response, httpx.Response]:
    """DELETE without a grant (the step-up challenge), then again with the grant of an SMS code."""
    path = f"/v1/me/devices/{device_id}"
    first = await system.gateway.delete(path, headers=bearer(tokens))
    if first.status_code != 401:
        return first, first
    grant = await grant_by_sms(system, sms, first.json()["challenge"]["id"])
    return first, await system.gateway.delete(path, headers={**bearer(tokens), "Step-Up-Grant": grant})


async def two_devices(system: System, sms: SmsSink) -> tuple[dict[str, object], dict[str, object]]:
    await open_account(system.gateway)
    phone = await full_login(system, sms)
    android = await full_login(system, sms, device=ANDROID)
    return phone, android


async def fraud_events(system: System, type: str) -> list[Any]:
    fraud = system.apps["fraud"].state.service
    async with fraud.database.transaction() as session:
        return list((await session.execute(select(event).where(event.c.type == type))).all())


async def test_a_removed_device_is_signed_out_at_once_forgotten_and_new_again_at_its_next_login(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    phone, android = await two_devices(system, sms)
    android_device = await device_of(system, android)
    # The Android session is live and believed by the gateway (its session check is cached for a few seconds).
    assert (await system.gateway.get("/v1/me/devices", headers=bearer(android))).status_code == 200

    first, removed = await remove(system, sms, phone, android_device)
    assert first.status_code == 401
    assert first.json()["code"] == "step_up_required"
    assert "email" not in first.json()["challenge"]["methods"]
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"removed": android_device, "sessions_ended": 1, "current_session_ended": False}
    assert "sekisho-sessions-ended" not in removed.headers  # internal: the gateway keeps it

    # At once: no clock advance, though the gateway believed the session live a moment ago.
    refused = await system.gateway.get("/v1/me/devices", headers=bearer(android))
    assert refused.status_code == 401
    assert refused.json()["reason"] == "session_ended"
    again = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": android["refresh_token"]})
    assert again.status_code == 401
    # The phone's own session goes on, and lists the phone alone.
    assert set(await device_ids(system, phone)) == {await device_of(system, phone)}

    # The customer is told by e-mail and SMS, with what to do if it was not them.
    await eventually(lambda: any("端末の登録解除" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    notice = next(m for m in smtp.to(CUSTOMER["email"]) if "端末の登録解除" in (m["Subject"] or "")).get_content()
    assert "パスワードを変更" in notice
    assert "sekisho-app/1.0" in notice
    await eventually(lambda: any("登録が解除" in m.body for m in sms.received if m.to == PHONE))

    # Fraud hears of it.
    async def reported() -> bool:
        return len(await fraud_events(system, "device_removed")) == 1

    await eventually_async(reported)
    (reported_event,) = await fraud_events(system, "device_removed")
    data = json.loads(reported_event.data) if isinstance(reported_event.data, str) else reported_event.data
    assert data["removed_device_id"] == android_device
    assert data["sessions_ended"] == 1

    # The next login from the removed device is a new device's: the second factor, and the new-device notice.
    notices = len([m for m in smtp.to(CUSTOMER["email"]) if "新しい端末" in (m["Subject"] or "")])
    password_only = await login(system.gateway, device=ANDROID)
    assert password_only.status_code == 401
    assert password_only.json()["code"] == "mfa_required"
    assert "access_token" not in password_only.text
    challenge_id = password_only.json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id)
    back = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
    assert back.status_code == 200, back.text
    await eventually(
        lambda: len([m for m in smtp.to(CUSTOMER["email"]) if "新しい端末" in (m["Subject"] or "")]) == notices + 1
    )
    assert await device_of(system, back.json()) != android_device  # a new device id


async def sms_code(system: System, sms: SmsSink, challenge_id: str, phone: str) -> str:
    """The code a challenge sends by SMS to `phone`."""
    count = len([m for m in sms.received if m.to == phone])
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    await eventually(lambda: len([m for m in sms.received if m.to == phone]) > count)
    found = re.search(r"\b(\d{6})\b", [m for m in sms.received if m.to == phone][-1].body)
    assert found is not None
    return found.group(1)


async def test_another_customers_device_is_not_found_exactly_like_a_missing_one(system: System, sms: SmsSink) -> None:
    phone, android = await two_devices(system, sms)
    android_device = await device_of(system, android)
    await open_account(system.gateway, email="taro.yamada@example.jp", phone="080-2222-3333")
    other = await login(system.gateway, login_id="taro.yamada@example.jp", device="device-taro")
    challenge_id = other.json()["challenge"]["id"]
    code = await sms_code(system, sms, challenge_id, TARO_PHONE)
    taro = (
        await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
    ).json()

    async def removal_by_taro(device_id: str) -> httpx.Response:
        path = f"/v1/me/devices/{device_id}"
        first = await system.gateway.delete(path, headers=bearer(taro))
        assert first.status_code == 401, first.text
        challenge = first.json()["challenge"]["id"]
        code = await sms_code(system, sms, challenge, TARO_PHONE)
        verified = await system.gateway.post(
            f"/v1/auth/challenges/{challenge}/verify", json={"method": "sms", "code": code}
        )
        assert verified.status_code == 200, verified.text
        return await system.gateway.delete(path, headers={**bearer(taro), "Step-Up-Grant": verified.json()["grant"]})

    theirs = await removal_by_taro(android_device)
    missing = await removal_by_taro("dev_doesnotexist000000000000")
    assert (theirs.status_code, missing.status_code) == (404, 404)
    assert theirs.json()["code"] == missing.json()["code"] == "device_not_found"
    assert theirs.json()["detail"] == missing.json()["detail"]
    # Hanako's Android is untouched.
    assert (await system.gateway.get("/v1/me/devices", headers=bearer(android))).status_code == 200
    assert android_device in await device_ids(system, phone)


async def test_a_grant_for_one_device_does_not_remove_another(system: System, sms: SmsSink) -> None:
    phone, android = await two_devices(system, sms)
    android_device, phone_device = await device_of(system, android), await device_of(system, phone)
    first = await system.gateway.delete(f"/v1/me/devices/{android_device}", headers=bearer(android))
    assert first.status_code == 401
    grant = await grant_by_sms(system, sms, first.json()["challenge"]["id"])
    # The thief on the Android tries to remove the owner's phone with the grant given for the Android itself.
    swapped = await system.gateway.delete(
        f"/v1/me/devices/{phone_device}", headers={**bearer(android), "Step-Up-Grant": grant}
    )
    assert swapped.status_code == 401
    assert swapped.json()["code"] == "step_up_required"
    assert (await system.gateway.get("/v1/me/devices", headers=bearer(phone))).status_code == 200


async def test_removing_the_device_in_hand_ends_this_session_too(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    device_id = await device_of(system, tokens)
    _, removed = await remove(system, sms, tokens, device_id)
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"removed": device_id, "sessions_ended": 1, "current_session_ended": True}
    after = await system.gateway.get("/v1/me/devices", headers=bearer(tokens))
    assert after.status_code == 401
    assert after.json()["reason"] == "session_ended"
    assert (await login(system.gateway, device=DEVICE)).status_code == 401  # a new device: the second factor


async def test_removal_needs_a_step_up_and_refuses_an_email_code(system: System, sms: SmsSink) -> None:
    phone, android = await two_devices(system, sms)
    android_device = await device_of(system, android)
    first = await system.gateway.delete(f"/v1/me/devices/{android_device}", headers=bearer(phone))
    assert first.status_code == 401
    challenge = first.json()["challenge"]
    by_email = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert by_email.status_code == 422, by_email.text
    forged = await system.gateway.delete(
        f"/v1/me/devices/{android_device}", headers={**bearer(phone), "Step-Up-Grant": "sug_forged"}
    )
    assert forged.status_code == 401
    assert (await system.gateway.get("/v1/me/devices", headers=bearer(android))).status_code == 200


async def test_auth_itself_refuses_a_removal_that_brought_no_step_up(system: System, sms: SmsSink) -> None:
    """A call that somehow skipped the gateway's step-up (or brought an e-mail code's) is refused by auth too."""
    from services.gateway.bearer import identity_context
    from shared.middleware import IDENTITY_HEADER
    from shared.tokens import Factor
    from tests.harness import client_for, identity_issuer

    phone, android = await two_devices(system, sms)
    android_device = await device_of(system, android)
    verifier = await system.apps["gateway"].state.service.runtime.bearer._keys(refresh=False)
    context = identity_context(verifier.verify(str(phone["access_token"]), subject_type="customer"))
    issuer = identity_issuer("gateway", system.clock)
    by_email = {**context, "step_up": Factor.of("email", int(system.clock.timestamp())).to_claim()}
    async with client_for(system.apps["auth"]) as auth:
        answers = [
            await auth.delete(f"/v1/me/devices/{android_device}", headers={IDENTITY_HEADER: issuer.issue("auth", c)})
            for c in (context, by_email)
        ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "step_up_method_refused")] * 2
    assert (await system.gateway.get("/v1/me/devices", headers=bearer(android))).status_code == 200
