"""The device registry: which devices a customer has used, when, from where; a new one is noticed (AUTH-LOGIN-2).

A device the customer removes is forgotten (its row deleted) and its sessions end: the next login from it is a new
device again, with the second factor and the new-device notice, and a new device id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from shared.database import owned_row
from shared.ids import new_id
from shared.problems import Problem
from shared.statements import Prepared, Statements, statements_of


@dataclass(frozen=True)
class SeenDevice:
    id: str
    new: bool  # first time this customer used it
    trusted: bool  # a full login has succeeded on it before: its failures count as "known" (only these do)


_d = models.device
# Built once: a login runs them every time (shared/statements.py).
_FIND = Prepared(select(_d).where(_d.c.customer_id == bindparam("customer"), _d.c.device_key == bindparam("key")))
# A login seen on a device: when, from where, with what.
_SEEN: dict[str, Any] = {
    "last_seen_at": bindparam("seen_at"),
    "last_ip": bindparam("seen_ip"),
    "user_agent": bindparam("seen_agent"),
}
_TOUCH = Prepared(_d.update().where(_d.c.id == bindparam("device")).values(**_SEEN))
_TOUCH_TRUSTED = Prepared(
    _d.update().where(_d.c.id == bindparam("device"), _d.c.trusted_at.is_not(None)).values(**_SEEN).returning(_d.c.id)
)
_REGISTER = Prepared(
    _d.insert(),
    columns=("id", "customer_id", "device_key", "first_seen_at", "last_seen_at", "last_ip", "user_agent"),
)
_TRUST = Prepared(
    _d.update().where(_d.c.id == bindparam("device"), _d.c.trusted_at.is_(None)).values(trusted_at=bindparam("at"))
)


def _seen(device_id: str, ip: str, user_agent: str, now: datetime) -> dict[str, Any]:
    return {"device": device_id, "seen_at": now, "seen_ip": ip, "seen_agent": user_agent[:300]}


async def find_device(session: AsyncSession | Statements, customer_id: str, device_key: str) -> Any:
    return await statements_of(session).one_or_none(_FIND, {"customer": customer_id, "key": device_key})


async def touch_trusted(statements: Statements, device_id: str, *, ip: str, user_agent: str, now: datetime) -> bool:
    """Record a login on a trusted device, in one statement; False if the device is no longer trusted."""
    return await statements.one_or_none(_TOUCH_TRUSTED, _seen(device_id, ip, user_agent, now)) is not None


async def see_device(
    session: AsyncSession | Statements, customer_id: str, device_key: str, *, ip: str, user_agent: str, now: datetime
) -> SeenDevice:
    statements = statements_of(session)
    found = await find_device(statements, customer_id, device_key)
    if found is None:
        device_id = new_id("dev")
        await statements.execute(
            _REGISTER,
            {
                "id": device_id,
                "customer_id": customer_id,
                "device_key": device_key,
                "first_seen_at": now,
                "last_seen_at": now,
                "last_ip": ip,
                "user_agent": user_agent[:300],
            },
        )
        return SeenDevice(device_id, new=True, trusted=False)
    await statements.execute(_TOUCH, _seen(found.id, ip, user_agent, now))
    return SeenDevice(found.id, new=False, trusted=found.trusted_at is not None)


async def trust_device(session: AsyncSession | Statements, device_id: str, *, now: datetime) -> None:
    await statements_of(session).execute(_TRUST, {"device": device_id, "at": now})


async def list_devices(session: AsyncSession, customer_id: str) -> list[dict[str, Any]]:
    d = models.device
    rows = (
        await session.execute(select(d).where(d.c.customer_id == customer_id).order_by(d.c.last_seen_at.desc()))
    ).all()
    return [
        {
            "id": row.id,
            "first_seen_at": row.first_seen_at,
            "last_seen_at": row.last_seen_at,
            "last_ip": row.last_ip,
            "user_agent": row.user_agent,
            "trusted": row.trusted_at is not None,
        }
        for row in rows
    ]


class DeviceNotFound(Problem):
    status = 404
    code = "device_not_found"


@dataclass(frozen=True)
class RemovedDevice:
    id: str
    device_key: str
    user_agent: str
    last_seen_at: datetime
    ended_sessions: list[str]


async def remove_device(session: AsyncSession, customer_id: str, device_id: str, *, now: datetime) -> RemovedDevice:
    """Forget the customer's device and end its sessions; DeviceNotFound alike for an unknown id and another
    customer's device."""
    row = await owned_row(
        session,
        models.device,
        device_id,
        customer_id=customer_id,
        for_update=True,
        missing=DeviceNotFound("No such device."),
    )
    s = models.auth_session
    ended = (
        await session.execute(
            s.update()
            .where(s.c.customer_id == customer_id, s.c.device_id == row.id, s.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="device_removed")
            .returning(s.c.id)
        )
    ).scalars()
    ended_ids = sorted(str(session_id) for session_id in ended)
    await session.execute(models.device.delete().where(models.device.c.id == row.id))
    return RemovedDevice(row.id, row.device_key, row.user_agent, row.last_seen_at, ended_ids)
