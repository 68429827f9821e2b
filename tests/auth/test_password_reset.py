"""A forgotten password reset through the gateway: a code by e-mail and by SMS, both needed; once; every session ends;
the customer hears of it on every contact; an unknown login id gets the same answer and no code goes anywhere."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import DEVICE, PHONE, full_login, login
from tests.harness import System
from tests.servers import eventually

NEW_PASSWORD = "Neko-Sakura-73?"
RESET = "/v1/auth/password-reset"
EMAIL_CODE_SUBJECT = "パスワード再設定の確認コード"


def _code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


def _email_codes(smtp: SmtpSink, address: str = CUSTOMER["email"]) -> list[str]:
    return [_code_in(m.get_content()) for m in smtp.to(address) if EMAIL_CODE_SUBJECT in (m["Subject"] or "")]


def _sms_codes(sms: SmsSink, number: str = PHONE) -> list[str]:
    return [_code_in(m.body) for m in sms.received if m.to == number and "パスワード再設定" in m.body]


async def request_reset(gateway: httpx.AsyncClient, login_id: str = CUSTOMER["email"], **more: Any) -> httpx.Response:
    return await gateway.post(RESET, json={"login_id": login_id, **more})


async def requested_with_codes(
    system: System, smtp: SmtpSink, sms: SmsSink, login_id: str = CUSTOMER["email"]
) -> tuple[str, str, str]:
    """A reset asked for, and the codes it sent: (reset id, e-mail code, SMS code)."""
    mails, texts = len(_email_codes(smtp)), len(_sms_codes(sms))
    started = await request_reset(system.gateway, login_id)
    assert started.status_code == 202, started.text
    await eventually(lambda: len(_email_codes(smtp)) > mails and len(_sms_codes(sms)) > texts)
    return started.json()["reset_id"], _email_codes(smtp)[-1], _sms_codes(sms)[-1]


async def verify(system: System, reset_id: str, method: str, code: str) -> httpx.Response:
    return await system.gateway.post(f"{RESET}/{reset_id}/verify", json={"method": method, "code": code})


async def complete(system: System, reset_id: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await system.gateway.post(f"{RESET}/{reset_id}/complete", json={"new_password": password})


async def reset_password(
    system: System, smtp: SmtpSink, sms: SmsSink, *, login_id: str = CUSTOMER["email"], password: str = NEW_PASSWORD
) -> httpx.Response:
    """The whole reset as a customer makes it: ask, enter both codes, choose the new password."""
    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms, login_id)
    assert (await verify(system, reset_id, "email", email_code)).json() == {"verified": ["email"], "ready": False}
    proven = await verify(system, reset_id, "sms", sms_code)
    assert proven.json() == {"verified": ["email", "possession"], "ready": True}, proven.text
    return await complete(system, reset_id, password)


def _start_of_an_hour(system: System) -> None:
    """Move the clock to just after an hour begins: the hourly windows of the limits then hold the whole test."""
    system.clock.advance(3600 - system.clock.timestamp() % 3600 + 1)  # type: ignore[attr-defined]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_reset_works_once_ends_every_session_and_notifies_on_email_and_sms(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    signed_in = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await system.gateway.get("/v1/me", headers=signed_in)).is_success

    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms)
    assert (await verify(system, reset_id, "email", email_code)).status_code == 200
    assert (await verify(system, reset_id, "sms", sms_code)).status_code == 200
    done = await complete(system, reset_id)
    assert done.status_code == 200, done.text
    assert done.json() == {"reset": True, "sessions_ended": 1}
    assert NEW_PASSWORD not in done.text

    again = await complete(system, reset_id, "Another-Pass-99!")
    assert (again.status_code, again.json()["code"]) == (410, "reset_expired")
    replayed = await verify(system, reset_id, "sms", sms_code)
    assert (replayed.status_code, replayed.json()["code"]) == (410, "reset_expired")

    # No session outlives the reset: the refresh token at once, the access token at the gateway's next session check.
    refreshed = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401, refreshed.text
    system.clock.advance(6)  # type: ignore[attr-defined]
    me = await system.gateway.get("/v1/me", headers=signed_in)
    assert me.status_code == 401, me.text

    assert (await login(system.gateway)).json()["code"] == "invalid_credentials"  # the old password is gone
    assert (await login(system.gateway, password="Another-Pass-99!")).json()["code"] == "invalid_credentials"
    assert (await login(system.gateway, password=NEW_PASSWORD)).status_code == 200  # the customer's trusted phone

    # Told on every registered contact, with what to do if it was not them.
    def notices() -> list[str]:
        mails = smtp.to(CUSTOMER["email"])
        return [m.get_content() for m in mails if "パスワード再設定のお知らせ" in (m["Subject"] or "")]

    await eventually(lambda: len(notices()) == 1)
    assert "すべての端末からログアウト" in notices()[0]
    await eventually(lambda: any("パスワードが再設定されました" in m.body for m in sms.received if m.to == PHONE))


async def test_an_unknown_login_id_gets_the_same_answer_and_no_code_is_sent_anywhere(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    known = await request_reset(system.gateway, CUSTOMER["email"])
    await eventually(lambda: len(_email_codes(smtp)) == 1 and len(_sms_codes(sms)) == 1)
    mails, texts = len(smtp.messages), len(sms.received)
    unknown = await request_reset(system.gateway, "nobody@example.jp")
    unknown_phone = await request_reset(system.gateway, "080-0000-1111")

    def without_id(response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        assert body["reset_id"].startswith("rst_")
        return {k: v for k, v in body.items() if k != "reset_id"}

    assert known.status_code == unknown.status_code == unknown_phone.status_code == 202
    assert without_id(known) == without_id(unknown) == without_id(unknown_phone)
    assert without_id(known)["methods"] == ["email", "sms"]
    assert "パスワード" in without_id(known)["caution"]  # AUTH-OTP-1: the caution comes with the codes
    # The caller's language, never the account's: an English-speaking customer's id answers as an unknown one does.
    english = await request_reset(system.gateway, "nobody@example.jp", language="en")
    assert english.json()["caution"].startswith("We never ask")

    # A wrong code: the same refusal, attempts counted down alike; completing: the same "not verified".
    for reset in (known, unknown, unknown_phone):
        wrong = await verify(system, reset.json()["reset_id"], "sms", "000000")
        assert (wrong.status_code, wrong.json()["code"], wrong.json()["attempts_left"]) == (401, "challenge_failed", 4)
        early = await complete(system, reset.json()["reset_id"])
        assert (early.status_code, early.json()["code"]) == (409, "reset_not_verified")
    # Resending: the same answer too.
    for reset in (known, unknown):
        system.clock.advance(31)  # type: ignore[attr-defined]
        sent = await system.gateway.post(f"{RESET}/{reset.json()['reset_id']}/send", json={"method": "email"})
        assert (sent.status_code, sent.json()) == (202, {"sent": "email", "expires_in": 60})

    # Nothing went to anyone for the unknown ids: the known customer's next code is the only new message.
    await eventually(lambda: len(smtp.messages) == mails + 1)
    assert smtp.to("nobody@example.jp") == []
    assert len(sms.received) == texts
    assert not [m for m in sms.received if m.to == "+818000001111"]


async def test_codes_of_another_reset_or_of_a_login_do_not_reset(system: System, smtp: SmtpSink, sms: SmsSink) -> None:
    await open_account(system.gateway)
    first, first_email, first_sms = await requested_with_codes(system, smtp, sms)
    second, second_email, second_sms = await requested_with_codes(system, smtp, sms)
    assert first != second
    # A login challenge's code (to the same phone) does not answer a reset.
    challenge = (await login(system.gateway, device="another-phone-0002")).json()["challenge"]
    before = len([m for m in sms.received if m.to == PHONE])
    assert (await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "sms"})).is_success
    await eventually(lambda: len([m for m in sms.received if m.to == PHONE]) > before)
    login_code = _code_in([m.body for m in sms.received if m.to == PHONE][-1])

    for method, code in (("email", first_email), ("sms", first_sms), ("sms", login_code), ("email", login_code)):
        if code in (second_email, second_sms):
            continue  # one chance in a million that two codes agree
        refused = await verify(system, second, method, code)
        assert (refused.status_code, refused.json()["code"]) == (401, "challenge_failed"), (method, refused.text)
    # The e-mail code does not answer for the phone either.
    crossed = await verify(system, first, "sms", first_email)
    assert crossed.status_code == 401 or first_email == first_sms
    # A reset's id is no challenge id: the challenge routes do not know it.
    for route in ("send", "verify"):
        body = {"method": "sms"} if route == "send" else {"method": "sms", "code": first_sms}
        assert (await system.gateway.post(f"/v1/auth/challenges/{first}/{route}", json=body)).status_code == 404
    assert (await complete(system, second)).json()["code"] == "reset_not_verified"


async def test_the_email_code_alone_is_not_enough_for_a_customer_with_a_phone(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms)
    assert (await verify(system, reset_id, "email", email_code)).json()["ready"] is False
    refused = await complete(system, reset_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "reset_not_verified")
    # Neither the e-mail code again nor an authenticator code the customer never enrolled prove possession.
    for method, code in (("sms", email_code), ("totp", sms_code)):
        if method == "sms" and email_code == sms_code:
            continue
        assert (await verify(system, reset_id, method, code)).status_code == 401
    assert (await complete(system, reset_id)).json()["code"] == "reset_not_verified"
    assert (await login(system.gateway, password=NEW_PASSWORD)).json()["code"] == "invalid_credentials"
    assert (await login(system.gateway)).json()["code"] == "mfa_required"  # the old password still stands


async def test_a_weak_new_password_is_refused_and_changes_nothing(system: System, smtp: SmtpSink, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms)
    await verify(system, reset_id, "email", email_code)
    await verify(system, reset_id, "sms", sms_code)
    weak_ones = (("Password123!", "common_password"), ("Xx-09012345678", "contains_phone"), ("Sh0rt!", "too_short"))
    for weak, code in weak_ones:
        refused = await complete(system, reset_id, weak)
        assert (refused.status_code, refused.json()["code"]) == (422, "password_policy")
        assert code in [v["code"] for v in refused.json()["violations"]]
        assert weak not in refused.text
    # Nothing changed: the old password logs in, the session stands.
    assert (await login(system.gateway)).status_code == 200
    refreshed = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert (await login(system.gateway, password="Password123!")).json()["code"] == "invalid_credentials"
    # The proven reset can still be completed with a good password.
    assert (await complete(system, reset_id)).status_code == 200


async def test_requests_are_limited_per_login_id_alike_whether_it_exists(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    _start_of_an_hour(system)
    answers: dict[str, list[int]] = {}
    for login_id in (CUSTOMER["email"], "nobody@example.jp"):
        answers[login_id] = []
        for _ in range(6):
            system.clock.advance(7)  # type: ignore[attr-defined]  # under the gateway's 10 a minute per address
            answers[login_id].append((await request_reset(system.gateway, login_id)).status_code)
    assert answers[CUSTOMER["email"]] == answers["nobody@example.jp"] == [202] * 5 + [429]
    limited = await request_reset(system.gateway, "nobody@example.jp")
    assert limited.json()["code"] == "too_many_attempts"
    assert "Retry-After" in limited.headers
    # The phone number of the same account is the same login id: its limit is spent too.
    assert (await request_reset(system.gateway, "090-1234-5678")).status_code == 429
    system.clock.advance(3600)  # type: ignore[attr-defined]
    assert (await request_reset(system.gateway, CUSTOMER["email"])).status_code == 202


async def test_requests_are_limited_per_address(system: System) -> None:
    _start_of_an_hour(system)
    statuses = [(await request_reset(system.gateway, f"someone{i}@example.jp")).status_code for i in range(20)]
    assert statuses == [202] * 20
    flood = await request_reset(system.gateway, "someone-more@example.jp")
    assert (flood.status_code, flood.json()["code"]) == (429, "rate_limited")  # the gateway's: 20 a minute
    system.clock.advance(61)  # type: ignore[attr-defined]
    hourly = await request_reset(system.gateway, "someone-else@example.jp")
    assert (hourly.status_code, hourly.json()["code"]) == (429, "too_many_attempts")  # auth's: 20 an hour


async def test_wrong_codes_lock_the_reset_as_they_lock_a_login(system: System, smtp: SmtpSink, sms: SmsSink) -> None:
    await open_account(system.gateway)
    await full_login(system, sms)  # the customer's phone is trusted
    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms)
    answers = [(await verify(system, reset_id, "sms", _wrong(sms_code))).status_code for _ in range(5)]
    assert answers == [401] * 5
    locked = await verify(system, reset_id, "email", email_code)
    assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")
    # The customer's own trusted device is not locked out by a stranger's guesses (lockout.py).
    assert (await login(system.gateway, device=DEVICE)).status_code == 200
    stranger = await login(system.gateway, device="criminal-phone-0666")
    assert (stranger.status_code, stranger.json()["code"]) == (423, "account_locked")


@pytest.mark.req("RESP-2")
async def test_a_notice_leads_the_customer_to_a_reset_that_works(system: System, smtp: SmtpSink, sms: SmsSink) -> None:
    """RESP-2 end to end: a stranger's password on a new device brings a notice that tells the customer to change the
    password, and the customer who cannot sign in resets it with the codes sent to their contacts: the stranger's
    password is dead, the customer is in with the new one."""
    await open_account(system.gateway)
    stolen = await login(system.gateway, device="criminal-phone-0666")
    assert stolen.json()["code"] == "mfa_required"

    def warnings() -> list[str]:
        return [m.get_content() for m in smtp.to(CUSTOMER["email"]) if "パスワード" in m.get_content()]

    await eventually(lambda: any("パスワードを変更してください" in w for w in warnings()))
    # … and, for a customer who cannot sign in, to reset it: the way this test then takes.
    assert any("パスワードの再設定" in w for w in warnings())
    done = await reset_password(system, smtp, sms, login_id="+81 90-1234-5678")  # by the phone number, too
    assert done.status_code == 200, done.text
    again = await login(system.gateway, device="criminal-phone-0666")
    assert again.json()["code"] == "invalid_credentials"
    first = await login(system.gateway, password=NEW_PASSWORD, device="hanako-new-phone-01")
    assert first.json()["code"] == "mfa_required"  # the customer's own new phone: the second factor as ever


async def test_a_reset_lifts_the_temporary_locks_of_wrong_passwords_but_not_a_hard_lock(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    """The customer's own wrong passwords lock their phone for a while; a stranger's lock strangers out. Neither stops
    the reset (it is proven by codes, not the password), and the reset lifts both: the failures counted against the old
    password stand for nothing. A hard lock waits for staff or a re-verification: no reset is proven under it."""
    await open_account(system.gateway)
    await full_login(system, sms)  # DEVICE is the customer's own
    for device in (DEVICE, "criminal-phone-0666"):
        # A second apart: login.announce_lock keys its notice by the second (two locks in one second collide).
        system.clock.advance(1)  # type: ignore[attr-defined]
        for _ in range(5):
            await login(system.gateway, password="Wrong-Pass-1234", device=device)
        assert (await login(system.gateway, device=device)).json()["code"] == "account_locked"
    assert (await reset_password(system, smtp, sms)).status_code == 200
    assert (await login(system.gateway, password=NEW_PASSWORD)).status_code == 200  # no wait on the own phone
    stranger = await login(system.gateway, password=NEW_PASSWORD, device="hanako-new-phone-01")
    assert stranger.json()["code"] == "mfa_required"  # nor for a new one: the second factor as ever

    # Ten wrong passwords from strangers (the lock in between waited out): a hard lock, which a reset cannot pass.
    system.clock.advance(1)  # type: ignore[attr-defined]
    for _ in range(2):
        for _ in range(5):
            await login(system.gateway, password="Wrong-Pass-1234", device="criminal-phone-0666")
        system.clock.advance(901)  # type: ignore[attr-defined]
    reset_id, email_code, _ = await requested_with_codes(system, smtp, sms)
    locked = await verify(system, reset_id, "email", email_code)
    assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")
    assert (await complete(system, reset_id, "Another-Pass-99!")).json()["code"] == "reset_not_verified"


async def test_two_completions_at_once_reset_once(system: System, smtp: SmtpSink, sms: SmsSink) -> None:
    await open_account(system.gateway)
    reset_id, email_code, sms_code = await requested_with_codes(system, smtp, sms)
    await verify(system, reset_id, "email", email_code)
    await verify(system, reset_id, "sms", sms_code)
    answers = await asyncio.gather(
        complete(system, reset_id, NEW_PASSWORD), complete(system, reset_id, "Another-Pass-99!")
    )
    assert sorted(a.status_code for a in answers) == [200, 410]
    won = NEW_PASSWORD if answers[0].status_code == 200 else "Another-Pass-99!"
    lost = "Another-Pass-99!" if won == NEW_PASSWORD else NEW_PASSWORD
    assert (await login(system.gateway, password=won)).json()["code"] == "mfa_required"
    assert (await login(system.gateway, password=lost)).json()["code"] == "invalid_credentials"

    def notices() -> list[Any]:
        return [m for m in smtp.to(CUSTOMER["email"]) if "パスワード再設定のお知らせ" in (m["Subject"] or "")]

    await eventually(lambda: len(notices()) == 1)
