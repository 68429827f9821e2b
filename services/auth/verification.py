"""Answering a challenge (`…/challenges/{id}/verify`): the customer route and the staff route share this.

Each answer first takes one of the challenge's attempts in one atomic statement, committed before the code is
looked at (challenges.claim_attempt): however many answers arrive at once, at most five are ever checked. A
locked subject cannot answer an outstanding challenge: the lock that stops its logins stops its codes too. A
wrong code also counts for the subject across all of its challenges (lockout.py), so that logging in again for
a fresh challenge does not buy five more guesses.

Whose side a code is on (lockout.py): a login challenge is only ever made for a device the customer has not
completed a login on, so it is a stranger's; a step-up challenge is made for a signed-in session, and every
session's device is trusted (or was signed in with a recovery code, which trusts no device but is still a session
of the customer's), so it is the customer's own; staff have one side. A recovery code is checked by using it
(recovery_codes.consume), and its use is told to the customer and to fraud in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from services.auth import (
    challenges,
    decoys,
    lockout,
    login,
    models,
    passkeys,
    password_reset,
    recovery_codes,
    sessions,
    staff,
    step_up,
)
from services.auth.errors import ChallengeDead, ChallengeFailed, ChallengeNotFound, PasskeyInvalid
from services.auth.runtime import AuthRuntime
from shared.events import record_event
from shared.tokens import Factor, Method

STAFF_PURPOSE = "staff_login"


@dataclass(frozen=True)
class Verified:
    """What a right answer gave: tokens (a login) or a step-up grant."""

    tokens: sessions.IssuedTokens | None = None
    grant: str | None = None


def _known(purpose: str) -> bool:
    return purpose not in ("login", decoys.PURPOSE)


async def verify_answer(
    runtime: AuthRuntime,
    challenge_id: str,
    *,
    method: Method | Literal["passkey"],
    code: str | None,
    ip: str,
    staff_route: bool,
    credential: dict[str, Any] | None = None,
) -> Verified:
    """Check one answer; raises the problem that refuses it. `staff_route`: only staff sign-in challenges are
    answered there, and never at the customer route (either way: 404, as for an unknown challenge)."""
    now = runtime.clock.now()
    async with runtime.database.reading() as session:
        row = await challenges.load_live(session, challenge_id, now=now)
        # A password reset's challenges are answered at its own route only (password_reset.py), whose two factors
        # together are what it asks for: none of them is a login or a grant.
        if (row.purpose == STAFF_PURPOSE) != staff_route or row.purpose in password_reset.PURPOSES:
            raise ChallengeNotFound("No such challenge.")
        known = _known(row.purpose)
        lockout.ensure_unlocked(await lockout.load_guard(session, row.customer_id), known=known, now=now)
    async with runtime.database.transaction() as session:
        attempts = await challenges.claim_attempt(session, challenge_id, now=now, limits=runtime.code_limits)
    if attempts is None:
        raise ChallengeDead("This challenge is no longer valid; start again.")
    async with runtime.database.transaction() as session:
        row = await challenges.load_live(session, challenge_id, now=now, lock=True)
        if method == "passkey":
            factor = await _passkey_factor(runtime, session, row, credential=credential or {})
        elif code is not None and await _matches(runtime, session, row, method=method, code=code):
            factor = Factor.of(method, int(now.timestamp()))
        else:
            factor = None
        if factor is not None:
            if not await challenges.mark_verified(session, challenge_id):
                raise ChallengeDead("This challenge is no longer valid; start again.")
            await lockout.record_code_success(session, row.customer_id, known=known, now=now)
            if method == "recovery_code":
                await _announce_recovery_code(runtime, session, row, ip=ip)
            return await _complete(runtime, session, row, factor, ip=ip)
    async with runtime.database.transaction() as session:
        await challenges.record_wrong_answer(session, challenge_id, attempts=attempts, limits=runtime.code_limits)
    await _count_wrong_code(runtime, row, known=known, ip=ip, stage="passkey" if method == "passkey" else "totp")
    raise ChallengeFailed("The code is not correct.", attempts_left=max(0, runtime.code_limits.max_attempts - attempts))


async def _matches(runtime: AuthRuntime, session: Any, row: Any, *, method: str, code: str) -> bool:
    now = runtime.clock.now()
    if method not in row.methods.split(",") or row.purpose == decoys.PURPOSE:
        return False  # a decoy's codes went to nobody: no answer is right
    if method == "totp" and row.purpose == STAFF_PURPOSE:
        return await staff.verify_staff_totp(session, row.customer_id, code, now=now, cipher=runtime.cipher)
    if method == "totp":
        return await runtime.verify_totp(session, row.customer_id, code, now=now)
    if method == "recovery_code":
        # Used here, in the transaction that verifies the challenge: of two answers racing with one code, one wins.
        return await recovery_codes.consume(session, runtime.cipher, row.customer_id, code, now=now)
    return challenges.code_matches(row, method=method, code=code, now=now, cipher=runtime.cipher)


async def _passkey_factor(runtime: AuthRuntime, session: Any, row: Any, *, credential: dict[str, Any]) -> Factor | None:
    """The possession factor (hwk or swk) of an assertion by one of the challenge's subject's passkeys (a customer's
    at a step-up, a staff member's at a staff sign-in), made for the WebAuthn challenge given with this very
    challenge; None for any other answer."""
    if "passkey" not in row.methods.split(",") or row.purpose not in ("step_up", STAFF_PURPOSE):
        return None
    staff_sign_in = row.purpose == STAFF_PURPOSE
    keyring = passkeys.STAFF if staff_sign_in else passkeys.CUSTOMERS
    expected = await passkeys.step_up_challenge_of(session, row.id, "staff_login" if staff_sign_in else "step_up")
    if expected is None:
        return None
    try:
        found = await passkeys.find_passkey(session, passkeys.credential_id_of(credential), keyring)
        if found is None or keyring.holder_of(found) != row.customer_id:
            return None
        asserted = await passkeys.verify_assertion(
            session,
            found,
            credential=credential,
            challenge=expected,
            now=runtime.clock.now(),
            config=runtime.webauthn(),
            keyring=keyring,
        )
    except passkeys.CloneSuspected as clone:
        if staff_sign_in:
            await staff.record_clone_suspected(runtime, session, row.customer_id, clone.passkey_id, clone.counts())
            return None
        await record_event(
            runtime.outbox, session, type="passkey_clone_suspected", occurred_at=runtime.clock.now(),
            customer_id=row.customer_id, outcome="refused",
            data={"passkey_id": clone.passkey_id, **clone.counts()},
        )  # fmt: skip
        return None
    except PasskeyInvalid:
        return None
    return next(f for f in asserted.factors if f.cls == "possession")


async def _announce_recovery_code(runtime: AuthRuntime, session: Any, row: Any, *, ip: str) -> None:
    customer = (await session.execute(select(models.customer).where(models.customer.c.id == row.customer_id))).one()
    await recovery_codes.announce_use(
        session,
        runtime.outbox,
        runtime.cipher,
        customer,
        challenge_id=row.id,
        operation=row.operation,
        ip=ip,
        now=runtime.clock.now(),
    )


async def _count_wrong_code(runtime: AuthRuntime, row: Any, *, known: bool, ip: str, stage: str) -> None:
    if row.purpose == STAFF_PURPOSE:
        found = await _read(runtime, select(models.staff).where(models.staff.c.id == row.customer_id))
        await staff.record_failure(runtime, found, row.customer_id, ip=ip, stage=stage)
    elif row.purpose == decoys.PURPOSE:
        # Counted as an account's would be, so that a decoy locks when a new account would.
        async with runtime.database.transaction() as session:
            await lockout.record_failure(
                session,
                row.customer_id,
                known=False,
                now=runtime.clock.now(),
                rule=runtime.login_deps().lock_rule,
                kind="code",
                expires_at=runtime.clock.now() + runtime.unknown_retention,
            )
    else:
        await login.record_code_failure(row.customer_id, known=known, ip=ip, deps=runtime.login_deps())


async def _read(runtime: AuthRuntime, query: Any) -> Any:
    async with runtime.database.reading() as session:
        return (await session.execute(query)).first()


async def _complete(runtime: AuthRuntime, session: Any, row: Any, factor: Factor, *, ip: str) -> Verified:
    now = runtime.clock.now()
    if row.purpose == "step_up":
        return Verified(grant=await step_up.issue_grant(session, challenge=row, factor=factor, now=now))
    pending = json.loads(runtime.cipher.open(row.pending, context=login.PENDING_CONTEXT))
    factors = [Factor(cls="knowledge", method="pwd", at=int(pending["password_at"])), factor]
    if row.purpose == STAFF_PURPOSE:
        issued = await staff.start_staff_session(
            session, staff_id=row.customer_id, factors=factors, now=now, runtime=runtime, ip=ip
        )
        return Verified(tokens=issued)
    customer = (await session.execute(select(models.customer).where(models.customer.c.id == row.customer_id))).one()
    issued = await login.complete_login(
        session,
        customer_row=customer,
        pending=pending,
        factors=factors,
        deps=runtime.login_deps(),
        signer=runtime.signer,
        token_policy=runtime.token_policy,
        notify_every_login=runtime.settings.notify_every_login,
    )
    return Verified(tokens=issued)
