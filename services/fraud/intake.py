"""Ingesting events: stored append-only, once per event id however often the outbox redelivers it."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.schemas import EventIn


async def ingest(session: AsyncSession, event: EventIn, *, producer: str, now: datetime) -> bool:
    """True when the event is new; False for a redelivery (nothing changes)."""
    e = models.event
    if (await session.execute(select(e.c.id).where(e.c.id == event.event_id))).first() is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(
                e.insert().values(
                    id=event.event_id,
                    type=event.type,
                    occurred_at=event.occurred_at,
                    received_at=now,
                    producer=producer,
                    customer_id=event.customer_id,
                    device_id=event.device_id,
                    ip=event.ip,
                    outcome=event.outcome,
                    data=json.dumps(event.data, ensure_ascii=False),
                )
            )
    except IntegrityError:
        return False  # a concurrent redelivery stored it first
    return True
