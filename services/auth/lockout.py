"""Lockout after repeated login failures (JFSA 2(2) login ③, AUTH-LOGIN-3), without becoming a weapon.

Failures are counted in the database so that replicas agree. Failures from a device that has logged
in before ("known": one of the customer's own trusted devices, never merely a nearby address) are
counted apart from strangers': N failures lock the side that made them for a while, the wait doubling
each time, and M failures lock that side until staff or a re-verification lift it. A stranger's flood
therefore locks out strangers only; the customer's own phone still logs in (Keycloak shipped the
opposite, GHSA-3hrr-xwvg-hxvr), while the per-network throttle in throttle.py stops the flood itself.
A successful login clears its own side's count.

Wrong one-time codes (a second factor, at login or at a step-up) are counted the same way, per side, but
apart from wrong passwords: a right password must not wipe out the codes guessed after it, or a thief who
has the password could guess codes for ever, five per challenge. Only a verified code clears them.

The same guard serves staff (always the "known" side: staff have no devices; stricter rules) and login ids
that name no account (`unknown_subject`: strangers only, forgotten `expires_at` after their last failure),
so that an unknown id answers exactly as an existing one does (no enumeration by lockout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import AccountLocked
from shared.metrics import current_metrics
from shared.statements import Prepared, Statements, statements_of

FailureKind = Literal["password", "code"]


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


def unknown_subject(login_id_digest: str) -> str:
    """The guard's subject for a login id that names no account: its keyed digest, never the id itself."""
    return "?" + login_id_digest


async def _guard(session: AsyncSession, subject: str, now: datetime) -> Any:
    """The subject's guard, locked for this transaction; made first where it has none (concurrent first failures
    of one subject make one row)."""
    g = models.login_guard
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(g)
        .values(
            customer_id=subject,
            known_failures=0,
            stranger_failures=0,
            known_code_failures=0,
            stranger_code_failures=0,
            known_locks=0,
            stranger_locks=0,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return (await session.execute(select(g).where(g.c.customer_id == subject).with_for_update())).one()


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


def ensure_reset_allowed(guard: Any, *, now: datetime, rule: LockRule) -> None:
    """Whether a password reset's codes may be tried (password_reset.py). A reset is proven by codes, never by the
    password: a lock made by wrong passwords does not stop it (a stranger typing wrong passwords must not keep the
    customer from the way back in), a lock made by wrong codes does, on the stranger side, where a reset's codes are
    counted. A hard lock of either side stops it: it waits for staff or a re-verification of identity (AUTH-LOGIN-3).
    `guard` may be None (never failed)."""
    if guard is None:
        return
    if guard.hard_locked_at is not None or guard.stranger_hard_locked_at is not None:
        raise AccountLocked(
            "The account is locked. Contact us, or verify your identity again, to unlock it.", locked_until=None
        )
    until = guard.stranger_locked_until
    if until is not None and until > now and guard.stranger_code_failures >= rule.lock_after:
        raise AccountLocked(
            "The account is locked for a while after repeated failures.",
            locked_until=until.isoformat(),
            headers={"Retry-After": str(int((until - now).total_seconds()) + 1)},
        )


def needs_reset(guard: Any, *, known: bool) -> bool:
    """Whether a success on this side has failures or locks to clear (most logins have none: no write)."""
    side = "known" if known else "stranger"
    return bool(
        getattr(guard, f"{side}_failures") or getattr(guard, f"{side}_locks") or getattr(guard, f"{side}_locked_until")
    )


async def record_failure(
    session: AsyncSession,
    subject: str,
    *,
    known: bool,
    now: datetime,
    rule: LockRule,
    kind: FailureKind = "password",
    expires_at: datetime | None = None,
) -> LockOutcome:
    """Count one failure of `kind` on the side that made it, and lock that side where the rule says so.

    `expires_at`: for a subject that is no account (unknown_subject), when to forget it."""
    g = models.login_guard
    row = await _guard(session, subject, now)
    side = "known" if known else "stranger"
    column = f"{side}_failures" if kind == "password" else f"{side}_code_failures"
    reason = "password_failures" if kind == "password" else "code_failures"
    failures = getattr(row, column) + 1
    values: dict[str, Any] = {column: failures, "updated_at": now}
    if expires_at is not None:
        values["expires_at"] = expires_at
    outcome = LockOutcome(False, False, None)
    if failures >= rule.hard_lock_after:
        values[("hard_locked_at" if known else "stranger_hard_locked_at")] = now
        values["lock_reason"] = reason
        outcome = LockOutcome(True, True, None)
    elif failures % rule.lock_after == 0:
        # Passwords count their locks (a right password resets them); codes are never reset by a password, so
        # their count of failures says how many locks they made.
        locks = getattr(row, f"{side}_locks") + 1 if kind == "password" else failures // rule.lock_after
        until = now + timedelta(minutes=rule.lock_minutes * 2 ** (locks - 1))
        current = getattr(row, f"{side}_locked_until")
        values.update({f"{side}_locked_until": max(until, current) if current else until, "lock_reason": reason})
        if kind == "password":
            values[f"{side}_locks"] = locks
        outcome = LockOutcome(True, False, until)
    await session.execute(g.update().where(g.c.customer_id == subject).values(**values))
    if outcome.locked and (metrics := current_metrics.get()) is not None:
        metrics.lockouts.labels(side, kind, "hard" if outcome.hard else "temporary").inc()
    return outcome


async def load_guard(session: AsyncSession, subject: str) -> Any:
    """The subject's guard (GUARD_COLUMNS among its attributes), or None where it never failed."""
    g = models.login_guard
    return (await session.execute(select(g).where(g.c.customer_id == subject))).first()


def ensure_unlocked(guard: Any, *, known: bool, now: datetime) -> None:
    """check_lock for a guard that may be None (never failed: nothing to check)."""
    if guard is not None:
        check_lock(guard, known=known, now=now)


async def record_code_success(session: AsyncSession, subject: str, *, known: bool, now: datetime) -> None:
    """A verified code clears its side's count of wrong codes (a statement that changes nothing where none)."""
    g = models.login_guard
    column = g.c[f"{'known' if known else 'stranger'}_code_failures"]
    await session.execute(
        g.update().where(g.c.customer_id == subject, column > 0).values({column.name: 0, "updated_at": now})
    )


async def forget_unknown(session: AsyncSession, *, now: datetime, keep: int) -> None:
    """Forget the unknown login ids whose time is up, and beyond the `keep` most recent: a spray of made-up ids
    cannot grow the table without bound."""
    g = models.login_guard
    await session.execute(delete(g).where(g.c.expires_at.is_not(None), g.c.expires_at < now))
    overflow = (
        select(g.c.customer_id)
        .where(g.c.expires_at.is_not(None))
        .order_by(g.c.expires_at.desc())
        .offset(keep)
        .limit(1000)
        .scalar_subquery()
    )
    await session.execute(delete(g).where(g.c.customer_id.in_(overflow)))


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


# Every failure counted and every temporary lock, on both sides: what an unlock and a completed reset both forget.
_FAILURES_FORGOTTEN: dict[str, Any] = {
    "known_failures": 0,
    "stranger_failures": 0,
    "known_code_failures": 0,
    "stranger_code_failures": 0,
    "known_locks": 0,
    "stranger_locks": 0,
    "known_locked_until": None,
    "stranger_locked_until": None,
}


async def unlock(session: AsyncSession, customer_id: str, *, now: datetime) -> None:
    """Staff or a re-verification lift every lock (API.md `POST /v1/ops/customers/{id}/unlock`)."""
    g = models.login_guard
    await session.execute(
        g.update()
        .where(g.c.customer_id == customer_id)
        .values(
            **_FAILURES_FORGOTTEN, hard_locked_at=None, stranger_hard_locked_at=None, lock_reason=None, updated_at=now
        )
    )


async def lift_after_reset(session: AsyncSession, customer_id: str, *, now: datetime) -> None:
    """A password reset proved the e-mail inbox and a possession factor (password_reset.py): the failures counted
    against the old password, and the wrong codes counted before the proof, stand for nothing any more, and the
    temporary locks they made are lifted on both sides. A hard lock stays: it waits for staff or a re-verification of
    identity (AUTH-LOGIN-3), which two codes are not, and a staff or fraud stop is a decision a customer's own flow
    must not undo."""
    g = models.login_guard
    await session.execute(
        g.update().where(g.c.customer_id == customer_id).values(**_FAILURES_FORGOTTEN, updated_at=now)
    )


async def hard_lock(session: AsyncSession, customer_id: str, *, now: datetime, reason: str) -> None:
    """Staff stop a customer (INC-1, RESP-3): locked for every device until lifted."""
    g = models.login_guard
    await _guard(session, customer_id, now)
    await session.execute(
        g.update().where(g.c.customer_id == customer_id).values(hard_locked_at=now, lock_reason=reason, updated_at=now)
    )
