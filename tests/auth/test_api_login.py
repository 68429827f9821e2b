"""Login through the gateway: password, a second factor on a new device, notices, lockout, no enumeration."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.harness import System
from tests.servers import eventually, eventually_async

DEVICE = "device-iphone-0001"
PHONE = "+819012345678"


async def login(
    gateway: httpx.AsyncClient,
    password: str = CUSTOMER["password"],
    device: str = DEVICE,
    login_id: str = CUSTOMER["email"],
) -> httpx.Response:
    return await gateway.post(
        "/v1/auth/login",
        json={"login_id": login_id, "password": password, "device_id": device},
        headers={"User-Agent": "sekisho-app/1.0 (iPhone)"},
    )


async def code_by_sms(system: System, sms: SmsSink, challenge_id: str) -> str:
    count = len(sms.received)
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text

    def new_codes() -> list[str]:
        """Codes in the messages to the phone since the send: a notice queued earlier may arrive among them."""
        later = [m for m in sms.received[count:] if m.to == PHONE]
        return [found.group(1) for m in later if (found := re.search(r"\b(\d{6})\b", m.body))]

    await eventually(lambda: len(new_codes()) > 0)
    return new_codes()[-1]


async def stepped_up(
    system: System, sms: SmsSink, send: Callable[[dict[str, str]], Awaitable[httpx.Response]]
) -> httpx.Response:
    """A request the policy steps up: the 401 challenge (RFC 9470), an SMS code, the grant, the request again."""
    first = await send({})
    assert first.status_code == 401, first.text
    assert first.json()["code"] == "step_up_required"
    assert 'error="insufficient_user_authentication"' in first.headers["www-authenticate"]
    return await send({"Step-Up-Grant": await grant_by_sms(system, sms, first.json()["challenge"]["id"])})


async def grant_by_sms(system: System, sms: SmsSink, challenge_id: str) -> str:
    """The grant a step-up challenge gives for the SMS code it sent."""
    code = await code_by_sms(system, sms, challenge_id)
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
    )
    assert verified.status_code == 200, verified.text
    grant: str = verified.json()["grant"]
    return grant


async def full_login(system: System, sms: SmsSink, device: str = DEVICE) -> dict[str, object]:
    first = await login(system.gateway, device=device)
    assert first.status_code == 401
    challenge_id = first.json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id)
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
    )
    assert verified.status_code == 200, verified.text
    tokens: dict[str, object] = verified.json()
    return tokens


@pytest.mark.req("AUTH-PW-1", "AUTH-PW-2")
@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short1!", "too_short"),
        ("alllowercaseletters", "too_few_classes"),
        ("Password123!", "common_password"),
        ("Hanako19900412!", "contains_birth_date"),
        ("Xx-09012345678", "contains_phone"),
        ("Hanako.Sato-2024", "contains_email"),
    ],
)
async def test_weak_passwords_of_each_kind_are_refused_and_nothing_is_created(
    system: System, password: str, code: str
) -> None:
    response = await system.gateway.post("/v1/accounts", json={**CUSTOMER, "password": password})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "password_policy"
    assert code in [v["code"] for v in body["violations"]]
    assert password not in response.text
    assert (await login(system.gateway, password=password)).json()["code"] == "invalid_credentials"


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-OTP-1")
async def test_a_new_device_with_the_password_alone_gets_no_token_in_any_response(system: System) -> None:
    await open_account(system.gateway)
    response = await login(system.gateway)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "mfa_required"
    # Not e-mail while the customer has a phone: the inbox falls with the same stolen credentials (issue 13).
    assert body["challenge"]["methods"] == ["sms"]
    assert "パスワード" in body["challenge"]["caution"]
    assert "token" not in response.text.replace("mfa_required", "")
    assert "access_token" not in response.text
    assert "refresh_token" not in response.text


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-LOGIN-2", "AUTH-OTP-2")
async def test_sms_code_completes_the_login_with_two_classes_and_the_new_device_is_notified(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    assert tokens["acr"] == "aal2"
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    await eventually(lambda: len(smtp.to(CUSTOMER["email"])) >= 2)
    warning, notice = (m.get_content() for m in smtp.to(CUSTOMER["email"]))
    # The password typed on a device not yet confirmed is told at once, before (whether or not) the code comes.
    assert "新しい端末でお客さまのパスワードが入力されました" in warning
    assert "sekisho-app/1.0" in notice  # the device
    again = await login(system.gateway)
    assert again.status_code == 200  # a device that completed MFA before
    assert again.json()["acr"] == "aal1"


@pytest.mark.req("AUTH-OTP-2")
async def test_a_code_older_than_60_seconds_is_refused(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    challenge_id = (await login(system.gateway)).json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id)
    system.clock.advance(61)  # type: ignore[attr-defined]
    response = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "challenge_failed"


@pytest.mark.req("AUTH-LOGIN-3")
async def test_a_challenge_dies_after_5_wrong_codes(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    challenge_id = (await login(system.gateway)).json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id)
    wrong = "000000" if code != "000000" else "111111"
    answers = [
        (
            await system.gateway.post(
                f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": wrong}
            )
        ).status_code
        for _ in range(5)
    ]
    assert answers == [401] * 5
    late = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
    assert late.status_code == 410
    assert late.json()["code"] == "challenge_expired"


@pytest.mark.req("AUTH-LOGIN-3")
async def test_five_wrong_passwords_lock_the_account_and_the_customer_is_told(system: System, smtp: SmtpSink) -> None:
    await open_account(system.gateway)
    statuses = [(await login(system.gateway, password=f"Wrong-Guess-{i}x")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    locked = await login(system.gateway)  # even the right password, while the lock lasts
    assert locked.status_code == 423
    assert locked.json()["code"] == "account_locked"
    await eventually(lambda: any("ロック" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))


@pytest.mark.req("AUTH-LOGIN-3")
async def test_a_strangers_flood_does_not_lock_the_customer_out_of_their_known_phone(
    system: System, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    await full_login(system, sms)  # the customer's own phone is now known
    transport = httpx.ASGITransport(system.apps["gateway"], client=("203.0.113.50", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
        for i in range(10):
            await login(attacker, password=f"Stuffing-{i}-Zz", device=f"attacker-device-{i:04d}")
        stranger = await login(attacker, device="attacker-device-9999")
    assert stranger.status_code == 423
    own = await login(system.gateway)
    assert own.status_code == 200


async def test_unknown_login_ids_and_wrong_passwords_get_the_same_answer(system: System) -> None:
    await open_account(system.gateway)
    runtime = system.apps["auth"].state.service.runtime
    before = runtime.hasher.verifications
    unknown = await login(system.gateway, login_id="nobody@example.jp", password="Whatever-123!")
    after_unknown = runtime.hasher.verifications
    wrong = await login(system.gateway, password="Whatever-123!")
    assert (unknown.status_code, wrong.status_code) == (401, 401)
    assert unknown.json() == wrong.json()
    assert after_unknown == before + 1  # the unknown id still cost one argon2id verification


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    first = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != tokens["refresh_token"]
    reuse = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_reused"
    dead = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": rotated})
    assert dead.status_code == 401  # the whole family died with the reuse


async def test_logins_and_failures_reach_fraud_through_the_outbox(system: System, sms: SmsSink) -> None:
    from sqlalchemy import select

    from services.fraud.models import event

    await open_account(system.gateway)
    await login(system.gateway, password="Wrong-Guess-1x")
    await login(system.gateway, login_id="nobody@example.jp", password="Whatever-123!")
    await full_login(system, sms)
    fraud = system.apps["fraud"].state.service
    stored: list[Any] = []

    async def arrived() -> bool:
        nonlocal stored
        async with fraud.database.transaction() as session:
            stored = list((await session.execute(select(event))).all())
        return len(stored) >= 6

    await eventually_async(arrived)
    assert sorted((row.type, row.outcome, row.producer) for row in stored) == [
        ("account_opened", "ok", "auth"),
        ("device_first_seen", "ok", "auth"),
        ("login_failed", "unknown_login_id", "auth"),
        ("login_failed", "wrong_password", "auth"),
        ("login_succeeded", "ok", "auth"),
        ("password_on_new_device", "ok", "auth"),
    ]
    assert "nobody@example.jp" not in json.dumps([row.data for row in stored])


@pytest.mark.req("AUTH-LOGIN-3")
async def test_the_wait_grows_then_ten_failures_lock_until_staff_or_reverification(system: System) -> None:
    await open_account(system.gateway)
    first = [(await login(system.gateway, password=f"Wrong-Guess-{i}x")).status_code for i in range(5)]
    assert first[-1] == 423
    system.clock.advance(minutes=16)  # type: ignore[attr-defined]
    second = [(await login(system.gateway, password=f"Wrong-Again-{i}x")).status_code for i in range(5)]
    assert second[-1] == 423
    system.clock.advance(days=30)  # type: ignore[attr-defined]
    still = await login(system.gateway)
    assert still.status_code == 423
    assert still.json()["locked_until"] is None  # hard: no time lifts it


async def test_the_customer_lists_their_devices(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    response = await system.gateway.get("/v1/me/devices", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    (device,) = response.json()
    assert device["trusted"] is True
    assert device["user_agent"].startswith("sekisho-app/1.0")
    assert device["first_seen_at"]


async def test_after_logout_the_access_token_is_refused_within_seconds(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await system.gateway.get("/v1/me/devices", headers=headers)).status_code == 200
    assert (
        await system.gateway.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    system.clock.advance(6)  # type: ignore[attr-defined]
    assert (await system.gateway.get("/v1/me/devices", headers=headers)).status_code == 401


@pytest.mark.req("AUTH-LOGIN-2")
async def test_the_new_device_notice_says_roughly_where_the_login_came_from(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    transport = httpx.ASGITransport(system.apps["gateway"], client=("133.242.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as from_japan:
        first = await login(from_japan)
        challenge_id = first.json()["challenge"]["id"]
        code = await code_by_sms(system, sms, challenge_id)
        verified = await from_japan.post(
            f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
        )
    assert verified.status_code == 200
    await eventually(lambda: len(smtp.to(CUSTOMER["email"])) >= 2)
    notice = smtp.to(CUSTOMER["email"])[-1].get_content()
    assert "Japan (JP)" in notice
    assert "133.242.0.1" in notice


@pytest.mark.req("DATA-2")
async def test_an_outdated_hash_is_upgraded_at_the_next_successful_login(system: System, sms: SmsSink) -> None:
    from sqlalchemy import select, update

    from services.auth.hashing import Argon2Parameters, PasswordHasher
    from services.auth.models import customer

    customer_id = await open_account(system.gateway)
    weaker = await PasswordHasher(Argon2Parameters(memory_cost=19456, time_cost=1, parallelism=1)).hash(
        CUSTOMER["password"]
    )
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        await session.execute(update(customer).where(customer.c.id == customer_id).values(password_hash=weaker))
    await full_login(system, sms)
    async with state.database.transaction() as session:
        stored = (await session.execute(select(customer.c.password_hash).where(customer.c.id == customer_id))).scalar()
    assert stored != weaker
    assert "$argon2id$" in stored
    assert "t=2" in stored


@pytest.mark.req("AUTH-OTP-2")
async def test_codes_cannot_be_sent_again_at_once_nor_without_limit(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    challenge_id = (await login(system.gateway)).json()["challenge"]["id"]
    send = f"/v1/auth/challenges/{challenge_id}/send"
    assert (await system.gateway.post(send, json={"method": "sms"})).status_code == 202
    too_soon = await system.gateway.post(send, json={"method": "sms"})
    assert too_soon.status_code == 429
    assert int(too_soon.headers["retry-after"]) > 0
    for _ in range(2):
        system.clock.advance(31)  # type: ignore[attr-defined]
        assert (await system.gateway.post(send, json={"method": "sms"})).status_code == 202
    system.clock.advance(31)  # type: ignore[attr-defined]
    exhausted = await system.gateway.post(send, json={"method": "sms"})
    assert exhausted.status_code == 429
    assert exhausted.json()["code"] == "too_many_attempts"


async def test_applying_with_a_registered_address_reveals_nothing_and_the_owner_is_told_once_a_day(
    system: System, smtp: SmtpSink
) -> None:
    owner = await open_account(system.gateway)
    attempts = [
        await system.gateway.post("/v1/accounts", json={**CUSTOMER, "phone": f"090-1111-222{i}"}) for i in range(3)
    ]
    assert [a.status_code for a in attempts] == [201, 201, 201]
    assert {tuple(sorted(a.json())) for a in attempts} == {("customer_id", "kyc_status")}
    assert owner not in {a.json()["customer_id"] for a in attempts}
    await eventually(lambda: len(smtp.to(CUSTOMER["email"])) >= 1)
    await asyncio.sleep(0.3)  # a second notice, were it sent, would have arrived by now
    (notice,) = smtp.to(CUSTOMER["email"])
    assert "新しいアカウントの申込み" in notice.get_content()
    system.clock.advance(days=1)  # type: ignore[attr-defined]
    await system.gateway.post("/v1/accounts", json=CUSTOMER)
    await eventually(lambda: len(smtp.to(CUSTOMER["email"])) == 2)


async def test_a_customer_gets_at_most_ten_codes_an_hour_whatever_the_challenges(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    sent = 0
    refused = None
    for device in range(5):  # every login from a new device is a new challenge, with up to 3 sends each
        challenge_id = (await login(system.gateway, device=f"device-new-{device:04d}")).json()["challenge"]["id"]
        for _ in range(3):
            response = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
            system.clock.advance(31)  # type: ignore[attr-defined]
            if response.status_code != 202:
                refused = response
                break
            sent += 1
        if refused is not None:
            break
    assert sent == 10
    assert refused is not None
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_attempts")
    assert int(refused.headers["retry-after"]) > 0
    await eventually(lambda: len([m for m in sms.received if m.to == PHONE]) == 10)
    system.clock.advance(3600)  # type: ignore[attr-defined]
    fresh = (await login(system.gateway, device="device-new-0099")).json()["challenge"]["id"]
    assert (await system.gateway.post(f"/v1/auth/challenges/{fresh}/send", json={"method": "sms"})).status_code == 202


# ---- login by the registered phone number (issue 16) -----------------------------------------------------------

PHONE_FORMS = ("090-1234-5678", "+81 90-1234-5678", "09012345678", "+819012345678", "090 1234 5678")


async def test_the_registered_phone_number_logs_in_in_any_usual_form(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    await full_login(system, sms)  # this phone is now the customer's trusted device
    for form in PHONE_FORMS:
        answer = await login(system.gateway, login_id=form)
        assert answer.status_code == 200, (form, answer.text)
        assert answer.json()["acr"] == "aal1"
    stranger = await login(system.gateway, login_id="090-1234-5678", device="another-phone-0002")
    assert (stranger.status_code, stranger.json()["code"]) == (401, "mfa_required")
    assert stranger.json()["challenge"]["methods"] == ["sms"]


async def test_a_wrong_password_by_phone_answers_as_by_email_and_as_an_unknown_id(system: System) -> None:
    await open_account(system.gateway)
    answers = [
        await login(system.gateway, password="Wrong-Pass-1234", login_id=login_id)
        for login_id in (CUSTOMER["email"], "090-1234-5678", "080-0000-1111", "nobody@example.jp", "not a phone")
    ]
    assert {(a.status_code, a.json()["code"], a.json()["detail"]) for a in answers} == {
        (401, "invalid_credentials", "The login id or the password is not correct.")
    }


async def test_failures_split_between_the_email_and_the_phone_lock_the_account(system: System) -> None:
    """The lockout counts per account, not per string typed (AUTH-LOGIN-3 cannot be sidestepped by alternating)."""
    await open_account(system.gateway)
    forms = (CUSTOMER["email"], "090-1234-5678", CUSTOMER["email"].upper(), "+81 90-1234-5678")
    for form in forms:
        refused = await login(system.gateway, password="Wrong-Pass-1234", login_id=form)
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials"), form
    fifth = await login(system.gateway, password="Wrong-Pass-1234", login_id="09012345678")
    assert (fifth.status_code, fifth.json()["code"]) == (423, "account_locked")
    for login_id in (CUSTOMER["email"], "090-1234-5678"):
        locked = await login(system.gateway, login_id=login_id)  # the right password: still locked
        assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")


async def test_a_phone_number_of_two_accounts_logs_neither_in_by_the_number(system: System) -> None:
    await open_account(system.gateway)
    await open_account(system.gateway, email="taro.sato@example.jp")  # the same family phone
    by_phone = await login(system.gateway, login_id="090-1234-5678")
    assert (by_phone.status_code, by_phone.json()["code"]) == (401, "invalid_credentials")
    for email in (CUSTOMER["email"], "taro.sato@example.jp"):
        assert (await login(system.gateway, login_id=email)).json()["code"] == "mfa_required"
