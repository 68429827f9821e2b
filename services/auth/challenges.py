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

POSSESSION_METHODS = ("totp", "sms", "email")


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


async def record_wrong_answer(session: AsyncSession, challenge_id: str, *, limits: CodeLimits) -> None:
    """Counted in its own transaction by the caller, so that the refusal cannot roll it back."""
    c = models.challenge
    row = (await session.execute(select(c.c.attempts).where(c.c.id == challenge_id).with_for_update())).first()
    if row is None:
        return
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts}
    if attempts >= limits.max_attempts:
        values["status"] = "dead"
    await session.execute(c.update().where(c.c.id == challenge_id).values(**values))


async def mark_verified(session: AsyncSession, challenge_id: str) -> None:
    c = models.challenge
    await session.execute(c.update().where(c.c.id == challenge_id, c.c.status == "pending").values(status="verified"))
