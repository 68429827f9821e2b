"""A customer's choice of channels: SMS may be added to email; no security notice can be switched off."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import models
from services.notify.schemas import PreferenceView
from shared.clock import Clock
from shared.contracts.notifications import EventType

ALWAYS_ON = [event.value for event in EventType]


async def get_preference(session: AsyncSession, customer_id: str) -> PreferenceView:
    sms = (
        await session.execute(select(models.preference.c.sms).where(models.preference.c.customer_id == customer_id))
    ).scalar()
    return PreferenceView(customer_id=customer_id, sms=bool(sms), always_on=ALWAYS_ON)


async def set_sms(session: AsyncSession, customer_id: str, *, sms: bool, clock: Clock) -> PreferenceView:
    p = models.preference
    updated = await session.execute(
        p.update().where(p.c.customer_id == customer_id).values(sms=sms, updated_at=clock.now())
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        await session.execute(p.insert().values(customer_id=customer_id, sms=sms, updated_at=clock.now()))
    return PreferenceView(customer_id=customer_id, sms=sms, always_on=ALWAYS_ON)
