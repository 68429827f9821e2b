"""Sessions: a short-lived access token and a rotating refresh token whose reuse ends the whole session.

A refresh token is stored only as its SHA-256. Using one rotates it; presenting an already-used one
means it was copied, so the session (the whole family of tokens) is revoked at once. Customers and staff share
this; a staff session also ends after an idle timeout and at the end of a shift (TokenPolicy).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import SessionExpired, TokenInvalid
from shared.ids import new_id, new_token
from shared.statements import Prepared, Statements, statements_of
from shared.tokens import AccessClaims, Factor, TokenSigner, acr_for


@dataclass(frozen=True)
class TokenPolicy:
    access_ttl_seconds: int = 300
    refresh_ttl_seconds: int = 30 * 24 * 3600
    # Staff: the session ends this long after its last refresh or request, and this long after its sign-in,
    # whatever happens in between (None: customers' sessions end by logout, revocation or the refresh token's age).
    idle_timeout_seconds: int | None = None
    max_session_seconds: int | None = None

    def ended_by_time(self, row: Any, now: datetime) -> str | None:
        """Why the session `row` has ended by now on its own ("idle_timeout", "shift_ended"), or None."""
        if self.max_session_seconds is not None and now >= row.created_at + timedelta(seconds=self.max_session_seconds):
            return "shift_ended"
        last = row.last_active_at or row.created_at
        if self.idle_timeout_seconds is not None and now >= last + timedelta(seconds=self.idle_timeout_seconds):
            return "idle_timeout"
        return None

    def access_ttl(self, row: Any, now: datetime) -> int:
        """An access token never outlives its session's shift."""
        if self.max_session_seconds is None:
            return self.access_ttl_seconds
        left = (row.created_at + timedelta(seconds=self.max_session_seconds) - now).total_seconds()
        return max(1, min(self.access_ttl_seconds, int(left)))


@dataclass(frozen=True)
class Ended:
    """A refresh that ended its session instead (committed with the transaction): a reused refresh token
    ("refresh_token_reuse": theft), or the policy's "idle_timeout" / "shift_ended", or "subject_disabled"."""

    session_id: str
    reason: str

    @property
    def reused(self) -> bool:
        return self.reason == REUSE


REUSE = "refresh_token_reuse"


@dataclass(frozen=True)
class Standing:
    """What a staff member's tokens carry: their role, and whether they are an outsourced operator (DATA-4)."""

    role: str
    outsourced: bool = False


# What a staff member's refresh checks anew each time: their standing now, or None when they may no longer sign in
# (disabled, locked): the session then ends.
RoleOf = Callable[[AsyncSession, str, datetime], Awaitable[Standing | None]]


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
    columns=("id", "customer_id", "subject_type", "device_id", "factors", "created_at", "last_active_at"),
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
    session: AsyncSession | Statements,
    *,
    row: Any,
    now: datetime,
    signer: TokenSigner,
    policy: TokenPolicy,
    role: str | None = None,
    outsourced: bool = False,
) -> IssuedTokens:
    factors = _factors_from(row.factors)
    ttl = policy.access_ttl(row, now)
    access = signer.sign(
        AccessClaims.for_subject(
            subject=row.customer_id,
            session_id=row.id,
            device_id=row.device_id,
            factors=factors,
            issued_at=int(now.timestamp()),
            ttl_seconds=ttl,
            subject_type=row.subject_type,
            role=role,
            outsourced=outsourced,
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
    return IssuedTokens(access, refresh, row.id, ttl, acr_for(factors))


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
    role: str | None = None,
    outsourced: bool = False,
) -> IssuedTokens:
    values = {
        "id": new_id("ses"),
        "customer_id": customer_id,
        "subject_type": subject_type,
        "device_id": device_id,
        "factors": _factors_json(factors),
        "created_at": now,
        "last_active_at": now,
    }
    row = await statements_of(session).one_or_none(_INSERT_SESSION, values)
    return await _issue(session, row=row, now=now, signer=signer, policy=policy, role=role, outsourced=outsourced)


async def rotate(
    session: AsyncSession,
    refresh_token: str,
    *,
    now: datetime,
    signer: TokenSigner,
    policy: TokenPolicy,
    subject_type: str = "customer",
    role_of: RoleOf | None = None,
) -> IssuedTokens | Ended:
    """New tokens; or the session just revoked and why: the token was already used (theft), the policy's idle
    timeout or shift has passed, or `role_of` says the subject may no longer sign in.

    Only a session of `subject_type` is refreshed here (a staff refresh token is not a customer's, and the other
    way round)."""
    r, s = models.refresh_token, models.auth_session
    found = (await session.execute(select(r).where(r.c.token_hash == _digest(refresh_token)).with_for_update())).first()
    if found is None or found.expires_at <= now:
        raise TokenInvalid("The refresh token is not valid.")
    owner = (await session.execute(select(s).where(s.c.id == found.session_id))).one()
    owner_id: str = owner.id
    if owner.subject_type != subject_type:
        raise TokenInvalid("The refresh token is not valid.")
    if owner.revoked_at is not None:
        raise TokenInvalid("The session has ended.")
    if found.used_at is not None:
        await revoke(session, owner_id, now=now, reason=REUSE)
        return Ended(owner_id, REUSE)
    ended = policy.ended_by_time(owner, now)
    standing = await role_of(session, owner.customer_id, now) if role_of is not None else None
    if ended is None and role_of is not None and standing is None:
        ended = "subject_disabled"
    if ended is not None:
        await revoke(session, owner_id, now=now, reason=ended)
        return Ended(owner_id, ended)
    await session.execute(r.update().where(r.c.token_hash == found.token_hash).values(used_at=now))
    if policy.idle_timeout_seconds is not None:
        await touch(session, owner_id, now=now)
    role, outsourced = (standing.role, standing.outsourced) if standing is not None else (None, False)
    return await _issue(session, row=owner, now=now, signer=signer, policy=policy, role=role, outsourced=outsourced)


async def touch(session: AsyncSession, session_id: str, *, now: datetime) -> None:
    """The session was used now (its idle timeout starts again)."""
    s = models.auth_session
    await session.execute(s.update().where(s.c.id == session_id).values(last_active_at=now))


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


def refused(ended: Ended) -> SessionExpired | TokenInvalid:
    """The problem a refresh that ended its session answers with."""
    if ended.reused:
        return TokenInvalid("This refresh token was already used; the session has been ended.", code="token_reused")
    return SessionExpired("The session has ended; sign in again.", reason=ended.reason)
