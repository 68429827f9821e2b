"""Ingesting events: stored append-only, once per event id however often the outbox redelivers it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.schemas import EventIn
from shared.database import insert_new


async def ingest(session: AsyncSession, events: Sequence[EventIn], *, producer: str, now: datetime) -> set[str]:
    """Store the events not stored yet, in one statement; the ids of those that are new (a redelivery is not)."""
    rows = [
        {
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
    ]
    return await insert_new(session, models.event, rows)
