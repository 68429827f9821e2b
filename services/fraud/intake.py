"""Ingesting events: stored append-only, once per event id however often the outbox redelivers it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.schemas import EventIn


async def ingest(session: AsyncSession, events: Sequence[EventIn], *, producer: str, now: datetime) -> set[str]:
    """Store the events not stored yet, in one statement; the ids of those that are new (a redelivery is not)."""
    if not events:
        return set()
    e = models.event
    rows = {
        event.event_id: {
            "id": event.event_id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "producer": producer,
            "customer_id": event.customer_id,
            "device_id": event.device_id,
            "ip": event.ip,
            "outcome": event.outcome,
            "data": json.dumps(event.data, ensure_ascii=False),
        }
        for event in events
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a concurrent redelivery that stored an event first is not an error.
    statement = insert(e).values(list(rows.values())).on_conflict_do_nothing(index_elements=[e.c.id]).returning(e.c.id)
    return set((await session.execute(statement)).scalars())
