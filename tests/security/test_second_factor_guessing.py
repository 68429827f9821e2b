"""Issue 13 item 2: second-factor codes cannot be guessed without end.

The attack: with the customer's password, log in from a new device again and again; each login makes a fresh
challenge with five tries of its own, so a per-challenge limit alone allows unlimited guesses. And 40 wrong answers
sent at once to one challenge were each checked before any of them was counted (6 checked, not 5).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import challenges
from shared.clock import FrozenClock
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import code_by_sms, full_login, login
from tests.harness import Backend, System, in_process_system
from tests.servers import eventually

ATTACKER_DEVICE = "attacker-device-0001"


def _overrides(smtp: SmtpSink, sms: SmsSink, **auth: Any) -> dict[str, dict[str, Any]]:
    return {
        "auth": {"auth_signing_key": SIGNING_KEY, **auth},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    async with in_process_system(backend, _overrides(smtp, sms), clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


def _wrong(code: str, n: int) -> str:
    guess = f"{(int(code) + 1 + n) % 1_000_000:06d}"
    assert guess != code
    return guess


async def _verify(client: httpx.AsyncClient, challenge_id: str, code: str) -> httpx.Response:
    return await client.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})


async def test_wrong_codes_count_across_challenges_and_lock_like_wrong_passwords(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    await open_account(system.gateway)
    await full_login(system, sms)  # the customer's own phone is trusted
    clock = system.clock
    assert isinstance(clock, FrozenClock)

    # A challenge the thief leaves outstanding, to answer once the account is locked.
    outstanding = (await login(system.gateway, device=ATTACKER_DEVICE)).json()["challenge"]["id"]
    outstanding_code = await code_by_sms(system, sms, outstanding)

    # Round 1: the right password from the thief's device, five wrong codes.
    first = await login(system.gateway, device=ATTACKER_DEVICE)
    assert first.json()["code"] == "mfa_required"
    challenge_id = first.json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id)
    answers = [(await _verify(system.gateway, challenge_id, _wrong(code, n))).status_code for n in range(5)]
    assert answers == [401] * 5
    # A fresh login does not buy five more guesses: the stranger's side is locked, for a while.
    locked = await login(system.gateway, device=ATTACKER_DEVICE)
    assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")
    until = datetime.fromisoformat(locked.json()["locked_until"])
    assert timedelta(minutes=14) < until - clock.now() <= timedelta(minutes=15, seconds=1)
    # Nor can a challenge made before the lock be answered while it lasts, even with the right code.
    late = await _verify(system.gateway, outstanding, outstanding_code)
    assert (late.status_code, late.json()["code"]) == (423, "account_locked")
    assert "access_token" not in late.text
    # The customer is told, as for wrong passwords; their own phone still logs in.
    await eventually(lambda: any("ロック" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    assert (await login(system.gateway)).status_code == 200

    # Round 2, once the lock has passed: five more wrong codes lock the stranger's side for good.
    clock.advance(minutes=16)
    again = await login(system.gateway, device=ATTACKER_DEVICE)
    assert again.json()["code"] == "mfa_required"
    challenge_id = again.json()["challenge"]["id"]
    for n in range(5):
        assert (await _verify(system.gateway, challenge_id, _wrong(code, n))).status_code == 401
    clock.advance(days=30)
    hard = await login(system.gateway, device=ATTACKER_DEVICE)
    assert (hard.status_code, hard.json()["code"], hard.json()["locked_until"]) == (423, "account_locked", None)
    await eventually(lambda: len([m for m in smtp.to(CUSTOMER["email"]) if "ロック" in (m["Subject"] or "")]) >= 2)


async def test_wrong_step_up_codes_lock_the_signed_in_customers_own_side(system: System, sms: SmsSink) -> None:
    """A stolen session's holder guessing step-up codes: counted across step-ups, the lock stops every device."""
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    change = {"current_password": CUSTOMER["password"], "new_password": "Another-Mikan-77!"}
    wrong: list[int] = []
    for _ in range(2):  # two step-ups in a row, five wrong codes in all
        asked = await system.gateway.put("/v1/me/password", json=change, headers=bearer)
        assert asked.json()["code"] == "step_up_required", asked.text
        challenge_id = asked.json()["challenge"]["id"]
        code = await code_by_sms(system, sms, challenge_id)
        for n in range(2 if wrong else 3):
            wrong.append((await _verify(system.gateway, challenge_id, _wrong(code, n))).status_code)
    assert wrong == [401] * 5
    own = await login(system.gateway)  # the customer's own, trusted phone
    assert (own.status_code, own.json()["code"]) == (423, "account_locked")


async def test_forty_concurrent_wrong_answers_check_at_most_five(
    backend: Backend, smtp: SmtpSink, sms: SmsSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is set far off here: what is under test is the challenge's own count, not the customer's.
    overrides = _overrides(smtp, sms, lock_after_failures=100, hard_lock_after_failures=200)
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as system:
        await open_account(system.gateway)
        challenge_id = (await login(system.gateway, device=ATTACKER_DEVICE)).json()["challenge"]["id"]
        code = await code_by_sms(system, sms, challenge_id)
        checked: list[str] = []
        original = challenges.code_matches

        def counting(row: Any, **kwargs: Any) -> bool:
            checked.append(kwargs["code"])
            return original(row, **kwargs)

        monkeypatch.setattr(challenges, "code_matches", counting)
        # Forty answers at once, from forty addresses (the gateway's per-address limit is not what is tested).
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    system.apps["gateway"], client=(f"198.51.{100 + i // 200}.{i % 200 + 1}", 40000)
                ),
                base_url="http://testserver",
            )
            for i in range(40)
        ]
        try:
            answers = await asyncio.gather(
                *(_verify(client, challenge_id, _wrong(code, n)) for n, client in enumerate(clients))
            )
        finally:
            for client in clients:
                await client.aclose()
        statuses = sorted(answer.status_code for answer in answers)
        assert len(checked) <= 5
        assert statuses.count(401) == len(checked)
        assert all(a.json()["code"] == "challenge_expired" for a in answers if a.status_code != 401)
        assert statuses.count(410) == 40 - len(checked)
        right = await _verify(system.gateway, challenge_id, code)
        assert (right.status_code, right.json()["code"]) == (410, "challenge_expired")
        assert "access_token" not in right.text
