"""Resetting a forgotten password (RESP-2): a code to the registered e-mail and a possession factor, both proven.

A reset is asked for by login id (the e-mail address or the registered phone number) and answered alike whether the
id names an account or not (API.md: no enumeration): the same body with a reset id, the same work (two challenges
made, two codes drawn), the same limits. For an id that names no account the reset is a decoy whose codes go to
nobody, which fails only when a code is entered, as a wrong code does (401 `challenge_failed`, attempts counted down,
wrong codes counted towards a lock of the id, as decoys.py does for logins).

Two challenges of challenges.py carry the proof: one answered by the code e-mailed, one by a possession factor (the
code sent by SMS to the registered phone, or the authenticator app where one is enrolled). Both must be verified
before the new password is taken: the inbox alone falls with the same stolen credentials far too often (login.py
says the same of logins). Account opening requires a phone, so every customer has a possession factor; a decoy is
answered as such a customer is. The new password meets the account-opening policy; the reset works once, ends every
session and refresh token, lifts the temporary locks (lockout.lift_after_reset says which and why), tells the
customer on every registered contact, and is a risk event for fraud. Money waits the cool-off after it that it waits
after a contact change (the gateway's policy; auth reports the later of the two times, internal_api.py).

Wrong codes count on the account's stranger side (lockout.py), as a login challenge's do: the reset is a door for
anyone. A lock made by wrong codes, or a hard lock, stops its codes being checked (423); a temporary lock made by wrong
passwords does not (lockout.ensure_reset_allowed), and a completed reset lifts the temporary locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import accounts, challenges, lockout, login, models, sessions, throttle
from services.auth.errors import (
    ChallengeDead,
    ChallengeFailed,
    ResetExpired,
    ResetNotFound,
    ResetNotVerified,
    TooManyAttempts,
)
from services.auth.runtime import AuthRuntime
from shared.contracts.notifications import EventType, OneTimeCodeData, PasswordResetData
from shared.events import record_event
from shared.ids import new_id
from shared.networks import client_key
from shared.notifications import send_notification

PURPOSE = "password_reset"  # the purpose of a reset's challenges
DECOY_PURPOSE = "reset_decoy"  # … of a reset for a login id that names no account: no code reaches anyone
PURPOSES = (PURPOSE, DECOY_PURPOSE)  # answered only at the reset's routes, never at /v1/auth/challenges/…
SENT_METHODS = ["email", "sms"]  # where the codes go, for every reset
POSSESSION_METHODS = ["sms", "totp"]  # what may prove the possession factor (TOTP only where enrolled)


@dataclass(frozen=True)
class ResetStarted:
    reset_id: str
    expires_in: int


@dataclass(frozen=True)
class ResetCompleted:
    sessions_ended: int


async def request_reset(runtime: AuthRuntime, login_id: str, *, ip: str) -> ResetStarted:
    """Start a reset and send its codes; the same answer, limits and work whether `login_id` names an account."""
    now = runtime.clock.now()
    s = runtime.settings
    async with runtime.database.reading() as session:
        index = await accounts.login_index(session, runtime.cipher, login_id)
    # Counted in their own transaction, before anything can fail: a refused request counts too.
    async with runtime.database.transaction() as session:
        by_id = await throttle.count_request(
            session, f"reset:{index[:40]}", now=now, window_seconds=s.password_reset_window_seconds
        )
        by_ip = await throttle.count_request(
            session, f"reset-ip:{client_key(ip)}", now=now, window_seconds=s.password_reset_window_seconds
        )
    if by_id > s.password_reset_per_login_id or by_ip > s.password_reset_per_ip:
        raise TooManyAttempts(
            "Too many password resets were asked for; try again later.",
            headers={"Retry-After": throttle.retry_after(now, s.password_reset_window_seconds)},
        )
    async with runtime.database.transaction() as session:
        c = models.customer
        row = (await session.execute(select(c).where(c.c.email_index == index))).first()
        if row is not None:
            subject, holder, purpose, language = row.id, row.id, PURPOSE, row.language
        else:
            # The holder of a decoy's challenges is stable per login id: the per-customer limit of codes an hour
            # applies to it as it would to an account.
            subject, holder, purpose, language = lockout.unknown_subject(index), "?" + index[:39], DECOY_PURPOSE, "ja"
        ids = {}
        for factor, methods in (("email", ["email"]), ("possession", POSSESSION_METHODS)):
            ids[factor] = await challenges.create_challenge(
                session,
                customer_id=holder,
                purpose=purpose,
                operation=PURPOSE,
                fields_digest="",
                summary={"operation": PURPOSE},
                methods=methods,
                pending=None,
                now=now,
                ttl_seconds=s.challenge_ttl_seconds,
            )
        reset_id = new_id("rst")
        await session.execute(
            models.password_reset.insert().values(
                id=reset_id,
                customer_id=row.id if row is not None else None,
                subject=subject,
                email_challenge_id=ids["email"],
                possession_challenge_id=ids["possession"],
                language=language,
                status="pending",
                created_at=now,
                expires_at=now + timedelta(seconds=s.challenge_ttl_seconds),
            )
        )
        await _send(runtime, session, row, ids["email"], "email", now=now)
        await _send(runtime, session, row, ids["possession"], "sms", now=now)
        await record_event(
            runtime.outbox,
            session,
            type="password_reset_requested",
            occurred_at=now,
            customer_id=row.id if row is not None else None,
            ip=ip,
            outcome="ok" if row is not None else "unknown_login_id",
            # Keyed digest, not the id: fraud counts distinct ids per address (a spray of resets).
            data={"login_id_digest": index},
        )
    return ResetStarted(reset_id, s.challenge_ttl_seconds)


async def resend_code(runtime: AuthRuntime, reset_id: str, *, method: str) -> None:
    """Another code by e-mail or SMS, under the challenges' limits (3 a challenge, 30 s apart, 10 an hour)."""
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        reset = await _live_reset(session, reset_id, now=now)
        challenge_id = reset.email_challenge_id if method == "email" else reset.possession_challenge_id
        row = None
        if reset.customer_id is not None:
            c = models.customer
            row = (await session.execute(select(c).where(c.c.id == reset.customer_id))).one()
        await _send(runtime, session, row, challenge_id, method, now=now)


async def _send(
    runtime: AuthRuntime, session: AsyncSession, row: Any, challenge_id: str, method: str, *, now: datetime
) -> None:
    """Draw a code for the challenge and send it to the registered contact; a decoy's (`row` None) goes nowhere."""
    issued = await challenges.issue_code(
        session, challenge_id, method=method, now=now, limits=runtime.code_limits, cipher=runtime.cipher
    )
    if row is None:
        return
    contact = accounts.contact_of(row, runtime.cipher)
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:reset-code:{challenge_id}:{issued.send_number}",
        event_type=EventType.ONE_TIME_CODE,
        customer_id=row.id,
        language=contact.language,
        email=contact.email if method == "email" else None,
        phone=contact.phone if method == "sms" else None,
        channel="email" if method == "email" else "sms",
        data=OneTimeCodeData.model_construct(
            code=issued.code, expires_in=issued.expires_in, operation="password_reset"
        ),
    )


async def _live_reset(session: AsyncSession, reset_id: str, *, now: datetime, lock: bool = False) -> Any:
    r = models.password_reset
    query = select(r).where(r.c.id == reset_id)
    reset = (await session.execute(query.with_for_update() if lock else query)).first()
    if reset is None:
        raise ResetNotFound("No such password reset.")
    if reset.status != "pending" or reset.expires_at <= now:
        raise ResetExpired("This password reset is no longer valid; start again.")
    return reset


async def verify_code(runtime: AuthRuntime, reset_id: str, *, method: str, code: str, ip: str) -> list[str]:
    """Prove one factor of the reset (`email`, or `sms`/`totp` for the possession factor); the factors proven so far.

    As challenges are answered (verification.py): one attempt taken atomically before the code is looked at, a wrong
    code counted for the subject across all its challenges, a locked subject refused before any check."""
    now = runtime.clock.now()
    async with runtime.database.reading() as session:
        reset = await _live_reset(session, reset_id, now=now)
        guard = await lockout.load_guard(session, reset.subject)
        lockout.ensure_reset_allowed(guard, now=now, rule=runtime.login_deps().lock_rule)
    challenge_id = reset.email_challenge_id if method == "email" else reset.possession_challenge_id
    async with runtime.database.transaction() as session:
        attempts = await challenges.claim_attempt(session, challenge_id, now=now, limits=runtime.code_limits)
    if attempts is None:
        raise ChallengeDead("This code can no longer be entered; start again.")
    async with runtime.database.transaction() as session:
        row = await challenges.load_live(session, challenge_id, now=now, lock=True)
        if await _matches(runtime, session, row, method=method, code=code, now=now):
            if not await challenges.mark_verified(session, challenge_id):
                raise ChallengeDead("This code can no longer be entered; start again.")
            await lockout.record_code_success(session, reset.subject, known=False, now=now)
            return await _proven(session, reset)
    async with runtime.database.transaction() as session:
        await challenges.record_wrong_answer(session, challenge_id, attempts=attempts, limits=runtime.code_limits)
    await _count_wrong_code(runtime, reset, ip=ip, now=now)
    raise ChallengeFailed("The code is not correct.", attempts_left=max(0, runtime.code_limits.max_attempts - attempts))


async def _matches(
    runtime: AuthRuntime, session: AsyncSession, row: Any, *, method: str, code: str, now: datetime
) -> bool:
    if row.purpose != PURPOSE or method not in row.methods.split(","):
        return False  # a decoy's codes went to nobody: no answer is right
    if method == "totp":
        return await runtime.verify_totp(session, row.customer_id, code, now=now)
    return challenges.code_matches(row, method=method, code=code, now=now, cipher=runtime.cipher)


async def _proven(session: AsyncSession, reset: Any) -> list[str]:
    c = models.challenge
    statuses = dict(
        (
            await session.execute(
                select(c.c.id, c.c.status).where(c.c.id.in_([reset.email_challenge_id, reset.possession_challenge_id]))
            )
        ).all()
    )
    factors = {"email": reset.email_challenge_id, "possession": reset.possession_challenge_id}
    return [name for name, challenge_id in factors.items() if statuses.get(challenge_id) == "verified"]


async def _count_wrong_code(runtime: AuthRuntime, reset: Any, *, ip: str, now: datetime) -> None:
    if reset.customer_id is not None:
        await login.record_code_failure(reset.customer_id, known=False, ip=ip, deps=runtime.login_deps())
        return
    # Counted as an account's would be, so that a decoy locks when an account would (and is forgotten in time).
    async with runtime.database.transaction() as session:
        await lockout.record_failure(
            session,
            reset.subject,
            known=False,
            now=now,
            rule=runtime.login_deps().lock_rule,
            kind="code",
            expires_at=now + runtime.unknown_retention,
        )


async def complete_reset(runtime: AuthRuntime, reset_id: str, *, new_password: str, ip: str) -> ResetCompleted:
    """Take the new password once both factors are proven; once only. A weak password (422) changes nothing and
    leaves the proven reset to be completed with a better one until it expires."""
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        reset = await _live_reset(session, reset_id, now=now, lock=True)
        if reset.customer_id is None or len(await _proven(session, reset)) < 2:
            raise ResetNotVerified("Enter the code sent by e-mail and the SMS or authenticator app code first.")
        c = models.customer
        row = (await session.execute(select(c).where(c.c.id == reset.customer_id))).one()
        contact = accounts.contact_of(row, runtime.cipher)
        accounts.enforce_password_policy(
            new_password, policy=runtime.policy, email=contact.email, phone=contact.phone, birth_date=contact.birth_date
        )
        password_hash = await runtime.hasher.hash(new_password)
        r = models.password_reset
        used = await session.execute(
            r.update().where(r.c.id == reset_id, r.c.status == "pending").values(status="completed", completed_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise ResetExpired("This password reset is no longer valid; start again.")
        await session.execute(
            c.update()
            .where(c.c.id == row.id)
            .values(
                password_hash=password_hash,
                password_changed_at=now,
                password_reset_at=now,
                password_invalidated_at=None,
                updated_at=now,
            )
        )
        ended = await sessions.revoke_all(session, row.id, now=now, reason="password_reset")
        await lockout.lift_after_reset(session, row.id, now=now)
        # Every registered contact: whoever reset it holds the inbox, and the phone's owner must hear of it too.
        await send_notification(
            runtime.outbox,
            session,
            key=f"auth:reset:{reset_id}",
            event_type=EventType.PASSWORD_RESET,
            customer_id=row.id,
            language=contact.language,
            email=contact.email,
            phone=contact.phone,
            data=PasswordResetData.model_construct(at=now, sessions_ended=ended),
        )
        await record_event(
            runtime.outbox,
            session,
            type="password_reset",
            occurred_at=now,
            customer_id=row.id,
            ip=ip,
            data={"sessions_ended": ended},
        )
    return ResetCompleted(ended)
