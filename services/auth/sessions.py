"""Sessions: a short-lived access token and a rotating refresh token whose reuse ends the whole session.

A refresh token is stored only as its SHA-256. Using one rotates it; presenting an already-used one
means it was copied, so the session (the whole family of tokens) is revoked at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import TokenInvalid
from shared.ids import new_id, new_token
from shared.statements import Prepared, Statements, statements_of
from shared.tokens import AccessClaims, Factor, TokenSigner, acr_for


@dataclass(frozen=True)
class TokenPolicy:
    access_ttl_seconds: int = 300
    refresh_ttl_seconds: int = 30 * 24 * 3600


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    session_id: str
    expires_in: int
    acr: str


# Built once (every login runs them); the values come with each execution.
_INSERT_SESSION = Prepared(
    models.auth_session.insert().returning(*models.auth_session.c),
    columns=("id", "customer_id", "subject_type", "device_id", "factors", "created_at"),
)
_INSERT_REFRESH = Prepared(
    models.refresh_token.insert(), columns=("token_hash", "session_id", "issued_at", "expires_at")
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _factors_json(factors: list[Factor]) -> str:
    return json.dumps([{"class": f.cls, "method": f.method, "at": f.at} for f in factors])


def _factors_from(text: str) -> list[Factor]:
    return [Factor(cls=item["class"], method=item["method"], at=item["at"]) for item in json.loads(text)]


async def _issue(
    session: AsyncSession | Statements, *, row: Any, now: datetime, signer: TokenSigner, policy: TokenPolicy
) -> IssuedTokens:
    factors = _factors_from(row.factors)
    access = signer.sign(
        AccessClaims.for_subject(
            subject=row.customer_id,
            session_id=row.id,
            device_id=row.device_id,
            factors=factors,
            issued_at=int(now.timestamp()),
            ttl_seconds=policy.access_ttl_seconds,
            subject_type=row.subject_type,
        )
    )
    refresh = new_token(32)
    await statements_of(session).execute(
        _INSERT_REFRESH,
        {
            "token_hash": _digest(refresh),
            "session_id": row.id,
            "issued_at": now,
            "expires_at": now + timedelta(seconds=policy.refresh_ttl_seconds),
        },
    )
    return IssuedTokens(access, refresh, row.id, policy.access_ttl_seconds, acr_for(factors))


async def start_session(
    session: AsyncSession | Statements,
    *,
    customer_id: str,
    device_id: str | None,
    factors: list[Factor],
    now: datetime,
    signer: TokenSigner,
    policy: TokenPolicy,
    subject_type: str = "customer",
) -> IssuedTokens:
    values = {
        "id": new_id("ses"),
        "customer_id": customer_id,
        "subject_type": subject_type,
        "device_id": device_id,
        "factors": _factors_json(factors),
        "created_at": now,
    }
    row = await statements_of(session).one_or_none(_INSERT_SESSION, values)
    return await _issue(session, row=row, now=now, signer=signer, policy=policy)


async def rotate(
    session: AsyncSession, refresh_token: str, *, now: datetime, signer: TokenSigner, policy: TokenPolicy
) -> IssuedTokens | str:
    """New tokens; or, when the token was already used (theft), the id of the session just revoked."""
    r, s = models.refresh_token, models.auth_session
    found = (await session.execute(select(r).where(r.c.token_hash == _digest(refresh_token)).with_for_update())).first()
    if found is None or found.expires_at <= now:
        raise TokenInvalid("The refresh token is not valid.")
    owner = (await session.execute(select(s).where(s.c.id == found.session_id))).one()
    owner_id: str = owner.id
    if owner.revoked_at is not None:
        raise TokenInvalid("The session has ended.")
    if found.used_at is not None:
        await revoke(session, owner_id, now=now, reason="refresh_token_reuse")
        return owner_id
    await session.execute(r.update().where(r.c.token_hash == found.token_hash).values(used_at=now))
    return await _issue(session, row=owner, now=now, signer=signer, policy=policy)


async def revoke(session: AsyncSession, session_id: str, *, now: datetime, reason: str) -> None:
    s = models.auth_session
    await session.execute(
        s.update().where(s.c.id == session_id, s.c.revoked_at.is_(None)).values(revoked_at=now, revoked_reason=reason)
    )


async def revoke_all(session: AsyncSession, customer_id: str, *, now: datetime, reason: str) -> int:
    s = models.auth_session
    result = await session.execute(
        s.update()
        .where(s.c.customer_id == customer_id, s.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def session_of_refresh(session: AsyncSession, refresh_token: str) -> str | None:
    r = models.refresh_token
    return (await session.execute(select(r.c.session_id).where(r.c.token_hash == _digest(refresh_token)))).scalar()
