"""Per-network throttle of failed logins: one IP (or its /24) failing too often is refused before any password check.

It stops a credential-stuffing flood without touching the accounts it aims at (see lockout.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import TooManyAttempts
from shared.networks import client_key, networks_of
from shared.statements import Prepared, Statements


def _window_key(name: str, now: datetime, window_seconds: int) -> tuple[str, datetime]:
    start = int(now.timestamp()) // window_seconds * window_seconds
    return f"{name}@{start}"[:80], datetime.fromtimestamp(start, now.tzinfo)


_t = models.ip_throttle


def _counted(ip: str) -> list[str]:
    """The client and its network: an IPv6 client is its /64 (it can take a fresh address for every attempt)."""
    names = networks_of(ip)
    return [f"ip:{client_key(ip)}", *names[1:]]


def _failures(param: str, label: str) -> Any:
    return select(_t.c.failures).where(_t.c.id == bindparam(param)).scalar_subquery().label(label)


def failure_columns() -> list[Any]:
    """The failures counted in this window from the caller's address and from its network, as two columns
    (`address_failures`, `network_failures`; NULL where none) that another statement can carry: the login's
    account facts carry them, one round trip fewer on every login. Parameters: `window_params()`."""
    return [_failures("throttle_address", "address_failures"), _failures("throttle_network", "network_failures")]


# Built once (shared/statements.py): the same two columns on their own, where no account is read.
_COUNTED = Prepared(select(*failure_columns()))


def window_params(ip: str, *, now: datetime, window_seconds: int) -> dict[str, str]:
    """The current window of `ip`'s address and of its network (the same key twice where `ip` is no address)."""
    keys = [_window_key(name, now, window_seconds)[0] for name in _counted(ip)]
    return {"throttle_address": keys[0], "throttle_network": keys[-1]}


def check(counted: Any, *, now: datetime, limit: int, window_seconds: int) -> None:
    """Refuse when either count (`failure_columns()` of a row) has reached its limit."""
    # A /24 holds many customers (mobile carriers' NAT): it gets four times the room of one address.
    if (counted.address_failures or 0) >= limit or (counted.network_failures or 0) >= limit * 4:
        start = int(now.timestamp()) // window_seconds * window_seconds
        retry = start + window_seconds - int(now.timestamp())
        raise TooManyAttempts(
            "Too many failed logins from this network; try again later.", headers={"Retry-After": str(retry)}
        )


async def ensure_not_throttled(
    statements: Statements, ip: str, *, now: datetime, limit: int, window_seconds: int
) -> None:
    params = window_params(ip, now=now, window_seconds=window_seconds)
    check(await statements.one_or_none(_COUNTED, params), now=now, limit=limit, window_seconds=window_seconds)


async def record_network_failure(session: AsyncSession, ip: str, *, now: datetime, window_seconds: int) -> None:
    t = models.ip_throttle
    for name in _counted(ip):
        key, start = _window_key(name, now, window_seconds)
        updated = await session.execute(t.update().where(t.c.id == key).values(failures=t.c.failures + 1))
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(t.insert().values(id=key, failures=1, window_started_at=start))


async def count_request(session: AsyncSession, name: str, *, now: datetime, window_seconds: int) -> int:
    """Count one request under `name` in the current window (the same table as failed logins: an anonymous door's
    requests per login id or per address, password_reset.py); the count so far, this one included."""
    key, start = _window_key(name, now, window_seconds)
    updated = await session.execute(
        _t.update().where(_t.c.id == key).values(failures=_t.c.failures + 1).returning(_t.c.failures)
    )
    count = updated.scalar_one_or_none()
    if count is None:
        await session.execute(_t.insert().values(id=key, failures=1, window_started_at=start))
        return 1
    return int(count)


def retry_after(now: datetime, window_seconds: int) -> str:
    """Seconds until the current window ends (Retry-After)."""
    start = int(now.timestamp()) // window_seconds * window_seconds
    return str(start + window_seconds - int(now.timestamp()))
