"""The device registry: which devices a customer has used, when, from where; a new one is noticed (AUTH-LOGIN-2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from shared.ids import new_id
from shared.networks import networks_of


@dataclass(frozen=True)
class SeenDevice:
    id: str
    new: bool  # first time this customer used it
    trusted: bool  # a full login has succeeded on it before: its failures count as "known"


async def find_device(session: AsyncSession, customer_id: str, device_key: str) -> Any:
    d = models.device
    return (
        await session.execute(select(d).where(d.c.customer_id == customer_id, d.c.device_key == device_key))
    ).first()


async def is_known(session: AsyncSession, customer_id: str, device: Any, ip: str) -> bool:
    """A device that has logged in before (`device`: its row or None), or a network a trusted device of this
    customer last used."""
    if device is not None and device.trusted_at is not None:
        return True
    d = models.device
    trusted_ips = (
        await session.execute(select(d.c.last_ip).where(d.c.customer_id == customer_id, d.c.trusted_at.is_not(None)))
    ).scalars()
    here = set(networks_of(ip)[1:])
    return any(here & set(networks_of(last)[1:]) for last in trusted_ips)


async def touch_trusted(session: AsyncSession, device_id: str, *, ip: str, user_agent: str, now: datetime) -> bool:
    """Record a login on a trusted device, in one statement; False if the device is no longer trusted."""
    d = models.device
    touched = await session.execute(
        d.update()
        .where(d.c.id == device_id, d.c.trusted_at.is_not(None))
        .values(last_seen_at=now, last_ip=ip, user_agent=user_agent[:300])
        .returning(d.c.id)
    )
    return touched.first() is not None


async def see_device(
    session: AsyncSession, customer_id: str, device_key: str, *, ip: str, user_agent: str, now: datetime
) -> SeenDevice:
    d = models.device
    found = await find_device(session, customer_id, device_key)
    if found is None:
        device_id = new_id("dev")
        await session.execute(
            d.insert().values(
                id=device_id,
                customer_id=customer_id,
                device_key=device_key,
                first_seen_at=now,
                last_seen_at=now,
                last_ip=ip,
                user_agent=user_agent[:300],
            )
        )
        return SeenDevice(device_id, new=True, trusted=False)
    await session.execute(
        d.update().where(d.c.id == found.id).values(last_seen_at=now, last_ip=ip, user_agent=user_agent[:300])
    )
    return SeenDevice(found.id, new=False, trusted=found.trusted_at is not None)


async def trust_device(session: AsyncSession, device_id: str, *, now: datetime) -> None:
    d = models.device
    await session.execute(d.update().where(d.c.id == device_id, d.c.trusted_at.is_(None)).values(trusted_at=now))


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
