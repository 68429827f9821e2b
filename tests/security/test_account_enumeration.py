"""Issue 13 item 5: lockout and account opening must not tell which login ids exist.

Before: an existing id answered 423 after 5 wrong passwords and an unknown one 401 for ever; and opening an account
with a registered e-mail, then logging in with the password chosen there, answered `invalid_credentials` where a
genuinely new account answers `mfa_required`.
"""

from __future__ import annotations

from typing import Any

import httpx

from sekisho.sinks import SmsSink
from shared.clock import FrozenClock
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import login
from tests.harness import System


def _seen(response: httpx.Response) -> tuple[Any, ...]:
    """All an attacker sees of a login answer."""
    return response.status_code, response.json(), response.headers.get("retry-after")


async def test_an_unknown_login_id_locks_exactly_as_an_existing_one(system: System) -> None:
    await open_account(system.gateway)
    clock = system.clock
    assert isinstance(clock, FrozenClock)
    known: list[tuple[Any, ...]] = []
    unknown: list[tuple[Any, ...]] = []
    for _ in range(3):  # 6 tries, a wait past the first lock, 6 more, a wait, 6 more
        for i in range(6):
            password = f"Stuffed-{i}-Pw!"
            known.append(_seen(await login(system.gateway, password=password, device="attacker-0001")))
            unknown.append(
                _seen(await login(system.gateway, password=password, device="attacker-0001", login_id="no@example.jp"))
            )
        clock.advance(minutes=16)
    assert known == unknown
    statuses = [answer[0] for answer in known]
    assert statuses[:6] == [401, 401, 401, 401, 423, 423]
    assert statuses[-1] == 423
    assert known[-1][1]["locked_until"] is None  # locked until staff or re-verification, for both alike


async def test_logging_in_after_applying_with_a_registered_email_looks_like_a_new_account(
    system: System, sms: SmsSink
) -> None:
    await open_account(system.gateway)  # the owner of hanako.sato@example.jp
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(system.apps["gateway"], client=("198.51.100.7", 40000)),
        base_url="http://testserver",
    ) as attacker:
        mine = {"password": "Probe-Pass-2026!", "phone": "080-9999-0000"}
        # A genuinely new account, for comparison, and one with the owner's address.
        fresh = await attacker.post("/v1/accounts", json={**CUSTOMER, **mine, "email": "fresh.applicant@example.jp"})
        decoy = await attacker.post("/v1/accounts", json={**CUSTOMER, **mine})
        assert (fresh.status_code, decoy.status_code) == (201, 201)

        answers = []
        for email in ("fresh.applicant@example.jp", CUSTOMER["email"]):
            first = await login(attacker, password=mine["password"], login_id=email, device="attacker-0002")
            challenge = first.json().get("challenge", {})
            sent = await attacker.post(f"/v1/auth/challenges/{challenge.get('id')}/send", json={"method": "email"})
            wrong = await attacker.post(
                f"/v1/auth/challenges/{challenge.get('id')}/verify", json={"method": "email", "code": "000000"}
            )
            answers.append(
                (
                    first.status_code,
                    first.json()["code"],
                    {k: v for k, v in challenge.items() if k != "id"},
                    sent.status_code,
                    sent.json(),
                    wrong.status_code,
                    wrong.json(),
                )
            )
    assert answers[0][:2] == (401, "mfa_required")
    assert answers[0] == answers[1]
    # The owner's own password still logs the owner in as before.
    own = await login(system.gateway)
    assert own.json()["code"] == "mfa_required"


async def test_unknown_login_ids_are_remembered_within_bounds_and_forgotten_in_time(system: System) -> None:
    """A spray of made-up ids cannot grow the table without end: the oldest and the expired are forgotten."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from services.auth import lockout
    from services.auth.models import login_guard

    runtime = system.apps["auth"].state.service.runtime
    clock = system.clock
    assert isinstance(clock, FrozenClock)
    rule = lockout.LockRule()
    for n in range(12):
        clock.advance(1)
        async with runtime.database.transaction() as session:
            await lockout.forget_unknown(session, now=clock.now(), keep=10)
            await lockout.record_failure(
                session,
                lockout.unknown_subject(f"{n:064x}"),
                known=False,
                now=clock.now(),
                rule=rule,
                expires_at=clock.now() + timedelta(hours=1),
            )
    async with runtime.database.transaction() as session:
        kept = (await session.execute(select(login_guard.c.customer_id).order_by(login_guard.c.customer_id))).scalars()
        assert list(kept) == [lockout.unknown_subject(f"{n:064x}") for n in range(1, 12)]  # the 10 newest, and 1 more
    clock.advance(hours=2)
    async with runtime.database.transaction() as session:
        await lockout.forget_unknown(session, now=clock.now(), keep=10)
        assert (await session.execute(select(func.count()).select_from(login_guard))).scalar_one() == 0
