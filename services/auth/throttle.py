"""Per-network throttle of failed logins: one IP (or its /24) failing too often is refused before any password check.

It stops a credential-stuffing flood without touching the accounts it aims at (see lockout.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import TooManyAttempts
from shared.networks import networks_of


def _window_key(name: str, now: datetime, window_seconds: int) -> tuple[str, datetime]:
    start = int(now.timestamp()) // window_seconds * window_seconds
    return f"{name}@{start}"[:80], datetime.fromtimestamp(start, now.tzinfo)


async def ensure_not_throttled(
    session: AsyncSession, ip: str, *, now: datetime, limit: int, window_seconds: int
) -> None:
    t = models.ip_throttle
    windows = {
        key: (name, start) for name in networks_of(ip) for key, start in [_window_key(name, now, window_seconds)]
    }
    counted = (await session.execute(select(t.c.id, t.c.failures).where(t.c.id.in_(windows)))).all()
    for key, failures in counted:
        name, start = windows[key]
        # A /24 holds many customers (mobile carriers' NAT): it gets four times the room of one address.
        allowed = limit if name.startswith("ip:") else limit * 4
        if failures >= allowed:
            retry = int((start + timedelta(seconds=window_seconds) - now).total_seconds()) + 1
            raise TooManyAttempts(
                "Too many failed logins from this network; try again later.", headers={"Retry-After": str(retry)}
            )


async def record_network_failure(session: AsyncSession, ip: str, *, now: datetime, window_seconds: int) -> None:
    t = models.ip_throttle
    for name in networks_of(ip):
        key, start = _window_key(name, now, window_seconds)
        updated = await session.execute(t.update().where(t.c.id == key).values(failures=t.c.failures + 1))
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(t.insert().values(id=key, failures=1, window_started_at=start))
