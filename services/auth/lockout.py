"""Lockout after repeated login failures (JFSA 2(2) login ③, AUTH-LOGIN-3), without becoming a weapon.

Failures are counted in the database so that replicas agree. Failures from a device that has logged
in before ("known") are counted apart from strangers': N failures lock the side that made them for a
while, the wait doubling each time, and M failures lock that side until staff or a re-verification
lift it. A stranger's flood therefore locks out strangers only; the customer's own phone still logs
in (Keycloak shipped the opposite, GHSA-3hrr-xwvg-hxvr), while the per-network throttle in
throttle.py stops the flood itself. A successful login clears its own side's count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import AccountLocked
from shared.statements import Prepared, Statements, statements_of


@dataclass(frozen=True)
class LockRule:
    lock_after: int = 5
    hard_lock_after: int = 10
    lock_minutes: float = 15.0


@dataclass(frozen=True)
class LockOutcome:
    """What a failure did: nothing, a temporary lock until `until`, or a hard lock (until is None)."""

    locked: bool
    hard: bool
    until: datetime | None


async def _guard(session: AsyncSession, customer_id: str, now: datetime) -> Any:
    g = models.login_guard
    row = (await session.execute(select(g).where(g.c.customer_id == customer_id).with_for_update())).first()
    if row is not None:
        return row
    await session.execute(
        g.insert().values(
            customer_id=customer_id,
            known_failures=0,
            stranger_failures=0,
            code_failures=0,
            known_locks=0,
            stranger_locks=0,
            updated_at=now,
        )
    )
    return (await session.execute(select(g).where(g.c.customer_id == customer_id).with_for_update())).one()


# What check_lock and needs_reset read of a guard; a login loads them with the account (login.py).
GUARD_COLUMNS = (
    "known_failures",
    "stranger_failures",
    "known_locks",
    "stranger_locks",
    "known_locked_until",
    "stranger_locked_until",
    "hard_locked_at",
    "stranger_hard_locked_at",
)


def guard_columns() -> list[Any]:
    return [models.login_guard.c[name] for name in GUARD_COLUMNS]


def check_lock(guard: Any, *, known: bool, now: datetime) -> None:
    """Raise AccountLocked if the guard's locks apply to this side (known device or stranger).

    `guard` has the GUARD_COLUMNS as attributes, all None when the customer has never failed.
    """
    if guard.hard_locked_at is not None or (not known and guard.stranger_hard_locked_at is not None):
        raise AccountLocked(
            "The account is locked. Contact us, or verify your identity again, to unlock it.", locked_until=None
        )
    until = guard.known_locked_until
    if not known and guard.stranger_locked_until is not None:
        until = max(filter(None, (until, guard.stranger_locked_until)))
    if until is not None and until > now:
        seconds = int((until - now).total_seconds()) + 1
        raise AccountLocked(
            "The account is locked for a while after repeated failures.",
            locked_until=until.isoformat(),
            headers={"Retry-After": str(seconds)},
        )


def needs_reset(guard: Any, *, known: bool) -> bool:
    """Whether a success on this side has failures or locks to clear (most logins have none: no write)."""
    side = "known" if known else "stranger"
    return bool(
        getattr(guard, f"{side}_failures") or getattr(guard, f"{side}_locks") or getattr(guard, f"{side}_locked_until")
    )


async def record_failure(
    session: AsyncSession, customer_id: str, *, known: bool, now: datetime, rule: LockRule
) -> LockOutcome:
    g = models.login_guard
    row = await _guard(session, customer_id, now)
    side = "known" if known else "stranger"
    failures = getattr(row, f"{side}_failures") + 1
    values: dict[str, Any] = {f"{side}_failures": failures, "updated_at": now}
    outcome = LockOutcome(False, False, None)
    if failures >= rule.hard_lock_after:
        values[("hard_locked_at" if known else "stranger_hard_locked_at")] = now
        values["lock_reason"] = "password_failures"
        outcome = LockOutcome(True, True, None)
    elif failures % rule.lock_after == 0:
        locks = getattr(row, f"{side}_locks") + 1
        until = now + timedelta(minutes=rule.lock_minutes * 2 ** (locks - 1))
        values.update({f"{side}_locks": locks, f"{side}_locked_until": until, "lock_reason": "password_failures"})
        outcome = LockOutcome(True, False, until)
    await session.execute(g.update().where(g.c.customer_id == customer_id).values(**values))
    return outcome


def _reset(side: str) -> Prepared:
    g = models.login_guard
    values: dict[str, Any] = {
        f"{side}_failures": 0,
        f"{side}_locks": 0,
        f"{side}_locked_until": None,
        "updated_at": bindparam("at"),
    }
    return Prepared(g.update().where(g.c.customer_id == bindparam("customer")).values(**values))


# Built once: a login that follows failures runs one (shared/statements.py).
_RESETS = {"known": _reset("known"), "stranger": _reset("stranger")}


async def record_success(session: AsyncSession | Statements, customer_id: str, *, known: bool, now: datetime) -> None:
    await statements_of(session).execute(
        _RESETS["known" if known else "stranger"], {"customer": customer_id, "at": now}
    )


async def unlock(session: AsyncSession, customer_id: str, *, now: datetime) -> None:
    """Staff or a re-verification lift every lock (API.md `POST /v1/ops/customers/{id}/unlock`)."""
    g = models.login_guard
    await session.execute(
        g.update()
        .where(g.c.customer_id == customer_id)
        .values(
            known_failures=0,
            stranger_failures=0,
            code_failures=0,
            known_locks=0,
            stranger_locks=0,
            known_locked_until=None,
            stranger_locked_until=None,
            hard_locked_at=None,
            stranger_hard_locked_at=None,
            lock_reason=None,
            updated_at=now,
        )
    )


async def hard_lock(session: AsyncSession, customer_id: str, *, now: datetime, reason: str) -> None:
    """Staff stop a customer (INC-1, RESP-3): locked for every device until lifted."""
    g = models.login_guard
    await _guard(session, customer_id, now)
    await session.execute(
        g.update().where(g.c.customer_id == customer_id).values(hard_locked_at=now, lock_reason=reason, updated_at=now)
    )
