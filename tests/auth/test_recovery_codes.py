"""Recovery codes through the gateway: ten at TOTP enrolment, kept only as keyed hashes, each usable once in place of
the lost app or phone, regenerated only after a step-up, never enough for money, always told to the customer."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pyotp
import pytest
from sqlalchemy import select, update

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import models, recovery_codes
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import login
from tests.harness import System
from tests.servers import eventually, eventually_async

CODE = re.compile(r"^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$")
OTHER = {**CUSTOMER, "email": "taro.yamada@example.jp", "phone": "080-8765-4321"}


@dataclass
class Enrolled:
    customer_id: str
    email: str
    phone: str  # E.164, as the SMS sink sees it
    tokens: dict[str, Any]
    secret: str
    codes: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


def e164(phone: str) -> str:
    return "+81" + phone.replace("-", "")[1:]


async def sms_code(system: System, sms: SmsSink, phone: str, challenge_id: str) -> str:
    count = len([m for m in sms.received if m.to == phone])
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    await eventually(lambda: len([m for m in sms.received if m.to == phone]) > count)
    found = re.search(r"\b(\d{6})\b", [m for m in sms.received if m.to == phone][-1].body)
    assert found is not None
    return found.group(1)


async def answer(system: System, challenge_id: str, method: str, code: str) -> httpx.Response:
    return await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": method, "code": code}
    )


async def sms_grant(system: System, sms: SmsSink, phone: str, challenged: httpx.Response) -> str:
    assert challenged.status_code == 401, challenged.text
    assert challenged.json()["code"] == "step_up_required"
    challenge_id = challenged.json()["challenge"]["id"]
    verified = await answer(system, challenge_id, "sms", await sms_code(system, sms, phone, challenge_id))
    assert verified.status_code == 200, verified.text
    grant: str = verified.json()["grant"]
    return grant


async def enrol(system: System, sms: SmsSink, customer: dict[str, Any] = CUSTOMER) -> Enrolled:
    """A customer who signed in with an SMS code and enrolled an authenticator app: the codes the confirm gave."""
    customer_id = await open_account(system.gateway, **customer)
    phone = e164(customer["phone"])
    first = await login(system.gateway, login_id=customer["email"])
    challenge_id = first.json()["challenge"]["id"]
    signed_in = await answer(system, challenge_id, "sms", await sms_code(system, sms, phone, challenge_id))
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    asked = await system.gateway.post("/v1/auth/totp", headers=headers)
    grant = await sms_grant(system, sms, phone, asked)
    started = await system.gateway.post("/v1/auth/totp", headers={**headers, "Step-Up-Grant": grant})
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await system.gateway.post(
        "/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).at(system.clock.timestamp())}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(customer_id, customer["email"], phone, tokens, secret, confirmed.json()["recovery_codes"])


async def login_challenge(system: System, who: Enrolled, device: str) -> dict[str, Any]:
    first = await login(system.gateway, login_id=who.email, device=device)
    assert first.status_code == 401, first.text
    challenge: dict[str, Any] = first.json()["challenge"]
    return challenge


async def remaining(system: System, who: Enrolled | dict[str, Any]) -> int:
    headers = who.headers if isinstance(who, Enrolled) else {"Authorization": f"Bearer {who['access_token']}"}
    counted = await system.gateway.get("/v1/me/recovery-codes", headers=headers)
    assert counted.status_code == 200, counted.text
    assert set(counted.json()) == {"remaining"}  # the count only, never a code
    left: int = counted.json()["remaining"]
    return left


def auth_database(system: System) -> Any:
    return system.apps["auth"].state.service.database


async def stored_hashes(system: System, customer_id: str) -> list[Any]:
    r = models.recovery_code
    async with auth_database(system).transaction() as session:
        return list((await session.execute(select(r).where(r.c.customer_id == customer_id))).all())


async def test_totp_confirm_gives_ten_codes_shown_once_and_kept_only_as_keyed_hashes(
    system: System, sms: SmsSink
) -> None:
    who = await enrol(system, sms)
    assert len(who.codes) == 10
    assert len(set(who.codes)) == 10
    assert all(CODE.match(code) for code in who.codes), who.codes
    rows = await stored_hashes(system, who.customer_id)
    assert len(rows) == 10
    in_table = repr([tuple(row) for row in rows])
    for code in who.codes:  # neither as shown nor as typed without the hyphen
        assert code not in in_table
        assert code.replace("-", "") not in in_table
    assert all(re.fullmatch(r"[0-9a-f]{64}", row.code_hash) and row.used_at is None for row in rows)
    listed = await system.gateway.get("/v1/me/recovery-codes", headers=who.headers)
    assert listed.json() == {"remaining": 10}
    assert not any(code in listed.text for code in who.codes)


def test_a_code_has_at_least_40_bits_and_is_read_back_however_it_is_typed() -> None:
    import math

    bits = recovery_codes.GROUP * recovery_codes.GROUPS * math.log2(len(recovery_codes.ALPHABET))
    assert bits >= 40
    code = recovery_codes.new_code()
    assert recovery_codes.normalise(code.upper().replace("-", " ")) == code.replace("-", "")
    for wrong in ("", code[:-1], code + "a", code.replace(code[0], "0"), "ｑ" + code[1:]):
        assert recovery_codes.normalise(wrong) is None


async def test_a_code_signs_in_once_as_the_possession_factor_and_the_customer_is_told_everywhere(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    who = await enrol(system, sms)
    challenge = await login_challenge(system, who, "device-lost-phone-0002")
    assert challenge["methods"] == ["totp", "sms", "recovery_code"]
    used = await answer(system, challenge["id"], "recovery_code", who.codes[3].upper())  # the case does not matter
    assert used.status_code == 200, used.text
    claims = jwt.decode(used.json()["access_token"], options={"verify_signature": False})
    assert claims["acr"] == "aal2"
    assert [f["method"] for f in claims["amr"]] == ["pwd", "recovery_code"]
    assert [f["class"] for f in claims["amr"]] == ["knowledge", "possession"]
    assert await remaining(system, used.json()) == 9
    # The device is not trusted by it: the next login there asks for a factor again.
    assert (await login_challenge(system, who, "device-lost-phone-0002"))["methods"] == ["totp", "sms", "recovery_code"]
    again = await login_challenge(system, who, "device-lost-phone-0003")
    replayed = await answer(system, again["id"], "recovery_code", who.codes[3])
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "challenge_failed"
    # The notice goes by e-mail and by SMS, whatever the customer chose, with the codes left.
    await eventually(lambda: any("リカバリーコード" in m.body for m in sms.received if m.to == who.phone))
    texted = [m.body for m in sms.received if m.to == who.phone and "リカバリーコード" in m.body]
    assert len(texted) == 1
    assert "残り9個" in texted[0]
    await eventually(lambda: any("リカバリーコード" in (m["Subject"] or "") for m in smtp.to(who.email)))
    mailed = [m for m in smtp.to(who.email) if "リカバリーコード" in (m["Subject"] or "")]
    assert len(mailed) == 1
    body = mailed[0].get_content()
    assert "9個" in body
    assert "パスワードを変更" in body  # what to do if it was not them
    assert who.codes[3] not in body
    fraud = system.apps["fraud"].state.service
    from services.fraud.models import event

    async def fraud_heard() -> bool:
        async with fraud.database.transaction() as session:
            rows = (await session.execute(select(event).where(event.c.type == "recovery_code_used"))).all()
        data = rows[0].data if rows else {}
        data = json.loads(data) if isinstance(data, str) else data
        return len(rows) == 1 and rows[0].customer_id == who.customer_id and data["remaining"] == 9

    await eventually_async(fraud_heard)


async def test_two_concurrent_uses_of_one_code_exactly_one_wins(system: System, sms: SmsSink) -> None:
    who = await enrol(system, sms)
    first = await login_challenge(system, who, "device-race-0001")
    second = await login_challenge(system, who, "device-race-0002")
    outcomes = await asyncio.gather(
        answer(system, first["id"], "recovery_code", who.codes[0]),
        answer(system, second["id"], "recovery_code", who.codes[0]),
    )
    assert sorted(r.status_code for r in outcomes) == [200, 401]
    assert await remaining(system, who) == 9


async def test_a_code_of_another_customer_is_refused_and_stays_theirs(system: System, sms: SmsSink) -> None:
    hanako = await enrol(system, sms)
    taro = await enrol(system, sms, OTHER)
    challenge = await login_challenge(system, hanako, "device-thief-0001")
    refused = await answer(system, challenge["id"], "recovery_code", taro.codes[0])
    assert refused.status_code == 401
    assert refused.json()["code"] == "challenge_failed"
    assert await remaining(system, taro) == 10
    assert await remaining(system, hanako) == 10
    own = await login_challenge(system, taro, "device-taro-0002")
    assert (await answer(system, own["id"], "recovery_code", taro.codes[0])).status_code == 200


async def test_wrong_codes_use_up_the_challenge_like_wrong_otps_and_count_toward_the_lock(
    system: System, sms: SmsSink
) -> None:
    who = await enrol(system, sms)
    challenge = await login_challenge(system, who, "device-guesser-0001")
    left = []
    for guess in ("aaaaa-aaaaa", "not a code", "bbbbb-bbbbb", "ccccc-ccccc", "ddddd-ddddd"):
        wrong = await answer(system, challenge["id"], "recovery_code", guess)
        assert wrong.status_code == 401
        left.append(wrong.json()["attempts_left"])
    assert left == [4, 3, 2, 1, 0]
    dead = await answer(system, challenge["id"], "recovery_code", who.codes[0])
    assert dead.status_code == 410  # the challenge died: not even the right code is checked
    assert await remaining(system, who) == 10
    g = models.login_guard
    async with auth_database(system).transaction() as session:
        guard = (await session.execute(select(g).where(g.c.customer_id == who.customer_id))).one()
    # Counted for the account across challenges, as wrong one-time codes from a stranger's device are (lockout.py).
    assert guard.stranger_code_failures == 5


async def test_a_code_cannot_be_sent_and_is_offered_only_while_one_is_unused(system: System, sms: SmsSink) -> None:
    who = await enrol(system, sms)
    challenge = await login_challenge(system, who, "device-new-0001")
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "recovery_code"})
    assert sent.status_code == 422
    r = models.recovery_code
    async with auth_database(system).transaction() as session:
        await session.execute(update(r).where(r.c.customer_id == who.customer_id).values(used_at=system.clock.now()))
    later = await login_challenge(system, who, "device-new-0002")
    assert later["methods"] == ["totp", "sms"]
    refused = await answer(system, later["id"], "recovery_code", who.codes[0])
    assert refused.status_code == 401


async def test_regenerating_needs_a_step_up_replaces_the_whole_set_and_is_told(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    who = await enrol(system, sms)
    asked = await system.gateway.post("/v1/me/recovery-codes", headers=who.headers)
    assert asked.status_code == 401
    assert asked.json()["code"] == "step_up_required"
    assert await remaining(system, who) == 10  # nothing changed without the grant
    grant = await sms_grant(system, sms, who.phone, asked)
    renewed = await system.gateway.post("/v1/me/recovery-codes", headers={**who.headers, "Step-Up-Grant": grant})
    assert renewed.status_code == 201, renewed.text
    fresh = renewed.json()["recovery_codes"]
    assert renewed.json()["remaining"] == 10
    assert len(set(fresh)) == 10
    assert not set(fresh) & set(who.codes)
    replay = await system.gateway.post("/v1/me/recovery-codes", headers={**who.headers, "Step-Up-Grant": grant})
    assert replay.status_code in (401, 409)  # the grant was used: no second set without a second step-up
    old = await login_challenge(system, who, "device-new-0001")
    assert (await answer(system, old["id"], "recovery_code", who.codes[0])).status_code == 401
    new = await login_challenge(system, who, "device-new-0002")
    assert (await answer(system, new["id"], "recovery_code", fresh[0])).status_code == 200
    await eventually(lambda: any("再発行" in (m["Subject"] or "") for m in smtp.to(who.email)))
    await eventually(lambda: any("再発行" in m.body for m in sms.received if m.to == who.phone))


async def test_two_regenerations_at_once_leave_one_set_of_ten(system: System, sms: SmsSink) -> None:
    who = await enrol(system, sms)
    grants = [
        await sms_grant(system, sms, who.phone, await system.gateway.post("/v1/me/recovery-codes", headers=who.headers))
        for _ in range(2)
    ]
    renewed = await asyncio.gather(
        *(
            system.gateway.post("/v1/me/recovery-codes", headers={**who.headers, "Step-Up-Grant": grant})
            for grant in grants
        )
    )
    assert [r.status_code for r in renewed] == [201, 201]
    assert await remaining(system, who) == 10
    assert len(await stored_hashes(system, who.customer_id)) == 10


async def test_a_recovery_code_re_enrols_a_lost_app_but_never_steps_up_money(system: System, sms: SmsSink) -> None:
    who = await enrol(system, sms)
    c = models.customer
    async with auth_database(system).transaction() as session:
        await session.execute(update(c).where(c.c.id == who.customer_id).values(kyc_status="verified"))
    challenge = await login_challenge(system, who, "device-new-phone-0001")
    recovered = await answer(system, challenge["id"], "recovery_code", who.codes[0])
    assert recovered.status_code == 200, recovered.text
    headers = {"Authorization": f"Bearer {recovered.json()['access_token']}"}

    # Money: the recovery code counts neither with the login nor as the step-up.
    money = await system.gateway.post("/v1/withdrawals", json={"qr": "atm-qr-0001", "amount": 10000}, headers=headers)
    assert money.status_code == 401, money.text
    assert money.json()["code"] == "step_up_required"
    offered = money.json()["challenge"]["methods"]
    assert "recovery_code" not in offered
    assert "sms" in offered
    tried = await answer(system, money.json()["challenge"]["id"], "recovery_code", who.codes[1])
    assert tried.status_code == 401
    assert await remaining(system, who) == 9  # the refused code was not spent

    # A new authenticator app: a recovery code may step that up, and the lost app stops working once it is confirmed.
    asked = await system.gateway.post("/v1/auth/totp", headers=headers)
    assert asked.status_code == 401
    assert "recovery_code" in asked.json()["challenge"]["methods"]
    granted = await answer(system, asked.json()["challenge"]["id"], "recovery_code", who.codes[1])
    assert granted.status_code == 200, granted.text
    grant = granted.json()["grant"]
    elsewhere = await system.gateway.post(
        "/v1/withdrawals", json={"qr": "atm-qr-0001", "amount": 10000}, headers={**headers, "Step-Up-Grant": grant}
    )
    assert elsewhere.status_code in (401, 409)  # the grant is for mfa_change only
    started = await system.gateway.post("/v1/auth/totp", headers={**headers, "Step-Up-Grant": grant})
    assert started.status_code == 201, started.text
    new_secret = started.json()["secret"]
    system.clock.advance(31)  # type: ignore[attr-defined]  # the new phone's app is set up a little later
    confirmed = await system.gateway.post(
        "/v1/auth/totp/confirm",
        json={"code": pyotp.TOTP(new_secret).at(system.clock.timestamp())},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(confirmed.json()["recovery_codes"]) == 10
    system.clock.advance(31)  # type: ignore[attr-defined]
    now = system.clock.timestamp()
    lost = await login_challenge(system, who, "device-thief-0009")
    assert (await answer(system, lost["id"], "totp", pyotp.TOTP(who.secret).at(now))).status_code == 401
    found = await login_challenge(system, who, "device-new-phone-0002")
    assert (await answer(system, found["id"], "totp", pyotp.TOTP(new_secret).at(now))).status_code == 200


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_notice_of_a_used_code_says_how_many_are_left(language: str) -> None:
    from datetime import UTC, datetime

    from services.notify.rendering import Renderer, Sender
    from shared.contracts.notifications import EventType

    renderer = Renderer(Sender(company="テスト金融", support_phone="0120-000-000", support_hours="9:00-18:00"))
    data = {"at": datetime(2026, 12, 1, tzinfo=UTC), "remaining": 0, "operation": "login", "ip": "203.0.113.7"}
    rendered = renderer.render(EventType.RECOVERY_CODE_USED, language, data)  # type: ignore[arg-type]
    left = {"ja": "残り0個", "en": "0 left"}[language]
    assert left in rendered.sms
    assert "203.0.113.7" in rendered.body
    assert {"ja": "再発行", "en": "generate a new set"}[language] in rendered.body
