"""Challenges: proving a possession factor for a login or an operation (AUTH-OTP-1/2, AUTH-EACH-1).

A challenge names what is being approved, the methods that may answer it, and carries the caution
text. A one-time code is 6 digits, lives 60 s, is stored only as a keyed hash, and a challenge dies
after 5 wrong answers. Its SMS says the operation and amount (dynamic linking, PSD2 RTS art. 5).
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import ChallengeDead, ChallengeNotFound, MethodNotAllowed, TooManyAttempts
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.statements import Prepared, Statements, statements_of

POSSESSION_METHODS = ("totp", "sms", "email", "recovery_code")


@dataclass(frozen=True)
class CodeLimits:
    code_ttl_seconds: int = 60
    max_attempts: int = 5
    max_sends: int = 3
    resend_seconds: int = 30
    # Across all of a customer's challenges: what stops a flood of codes to one phone (SMS bombing, SMS cost)
    # from many addresses, which the gateway's per-IP limits cannot see as one customer.
    max_sends_per_customer_hour: int = 10


@dataclass(frozen=True)
class IssuedCode:
    code: str
    method: str
    expires_in: int
    customer_id: str
    operation: str
    summary: dict[str, Any]
    send_number: int  # 1 for the first code of this challenge, 2 for the next …


def code_hash(cipher: FieldCipher, challenge_id: str, code: str) -> str:
    # Keyed: a leaked table does not give the 10^6 codes away to a brute force.
    return cipher.blind_index(code, context=f"challenge.code:{challenge_id}")


_CREATE = Prepared(
    models.challenge.insert(),
    columns=(
        "id", "customer_id", "purpose", "operation", "fields_digest", "summary", "methods", "pending",
        "codes_sent", "attempts", "status", "created_at", "expires_at",
    ),
)  # fmt: skip


async def create_challenge(
    session: AsyncSession | Statements,
    *,
    customer_id: str,
    purpose: str,
    operation: str,
    fields_digest: str,
    summary: dict[str, Any],
    methods: list[str],
    pending: str | None,
    now: datetime,
    ttl_seconds: int,
) -> str:
    challenge_id = new_id("chl")
    await statements_of(session).execute(
        _CREATE,
        {
            "id": challenge_id,
            "customer_id": customer_id,
            "purpose": purpose,
            "operation": operation,
            "fields_digest": fields_digest,
            "summary": json.dumps(summary, ensure_ascii=False),
            "methods": ",".join(methods),
            "pending": pending,
            "codes_sent": 0,
            "attempts": 0,
            "status": "pending",
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        },
    )
    return challenge_id


async def load_live(session: AsyncSession, challenge_id: str, *, now: datetime, lock: bool = False) -> Any:
    c = models.challenge
    query = select(c).where(c.c.id == challenge_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise ChallengeNotFound("No such challenge.")
    if row.status != "pending" or row.expires_at <= now:
        raise ChallengeDead("This challenge is no longer valid; start again.")
    return row


async def issue_code(
    session: AsyncSession, challenge_id: str, *, method: str, now: datetime, limits: CodeLimits, cipher: FieldCipher
) -> IssuedCode:
    row = await load_live(session, challenge_id, now=now, lock=True)
    if method not in row.methods.split(","):
        raise MethodNotAllowed(f"This challenge cannot be answered by {method}.")
    if row.codes_sent >= limits.max_sends:
        raise TooManyAttempts("No more codes can be sent for this challenge; start again.")
    c = models.challenge
    sent_this_hour = (
        await session.execute(
            select(func.coalesce(func.sum(c.c.codes_sent), 0)).where(
                c.c.customer_id == row.customer_id, c.c.created_at > now - timedelta(hours=1)
            )
        )
    ).scalar_one()
    if sent_this_hour >= limits.max_sends_per_customer_hour:
        raise TooManyAttempts(
            "Too many codes were sent to this customer in the last hour; try again later.",
            headers={"Retry-After": "3600"},
        )
    if row.code_expires_at is not None:
        sent_at = row.code_expires_at - timedelta(seconds=limits.code_ttl_seconds)
        if (now - sent_at).total_seconds() < limits.resend_seconds:
            wait = limits.resend_seconds - int((now - sent_at).total_seconds())
            raise TooManyAttempts("A code was sent a moment ago.", headers={"Retry-After": str(wait)})
    code = f"{secrets.randbelow(1_000_000):06d}"
    await session.execute(
        models.challenge.update()
        .where(models.challenge.c.id == challenge_id)
        .values(
            code_hash=code_hash(cipher, challenge_id, code),
            code_method=method,
            code_expires_at=now + timedelta(seconds=limits.code_ttl_seconds),
            codes_sent=row.codes_sent + 1,
        )
    )
    return IssuedCode(
        code,
        method,
        limits.code_ttl_seconds,
        customer_id=row.customer_id,
        operation=row.operation,
        summary=json.loads(row.summary),
        send_number=row.codes_sent + 1,
    )


def code_matches(row: Any, *, method: str, code: str, now: datetime, cipher: FieldCipher) -> bool:
    if row.code_hash is None or row.code_method != method or row.code_expires_at is None:
        return False
    if row.code_expires_at <= now:  # AUTH-OTP-2: a code lives 60 s
        return False
    return hmac.compare_digest(row.code_hash, code_hash(cipher, row.id, code))


async def claim_attempt(session: AsyncSession, challenge_id: str, *, now: datetime, limits: CodeLimits) -> int | None:
    """Take one of the challenge's attempts before its answer is checked, in one atomic statement; the attempts
    taken so far (this one included), or None when none is left (or the challenge is no longer pending).

    Committed by the caller before the check: however many answers arrive at once, at most `max_attempts` of them
    are ever compared with the code (a read-then-write let 40 concurrent answers check 6)."""
    c = models.challenge
    claimed = await session.execute(
        c.update()
        .where(
            c.c.id == challenge_id,
            c.c.status == "pending",
            c.c.expires_at > now,
            c.c.attempts < limits.max_attempts,
        )
        .values(attempts=c.c.attempts + 1)
        .returning(c.c.attempts)
    )
    attempts = claimed.scalar_one_or_none()
    return None if attempts is None else int(attempts)


async def record_wrong_answer(session: AsyncSession, challenge_id: str, *, attempts: int, limits: CodeLimits) -> None:
    """The answer of the attempt `attempts` was wrong: the last one allowed kills the challenge."""
    if attempts >= limits.max_attempts:
        c = models.challenge
        await session.execute(c.update().where(c.c.id == challenge_id, c.c.status == "pending").values(status="dead"))


async def mark_verified(session: AsyncSession, challenge_id: str) -> bool:
    """Whether this answer is the one that verified the challenge (two right answers at once: only one is)."""
    c = models.challenge
    updated = await session.execute(
        c.update().where(c.c.id == challenge_id, c.c.status == "pending").values(status="verified")
    )
    return bool(updated.rowcount == 1)  # type: ignore[attr-defined]
