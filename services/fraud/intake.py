"""Ingesting events: stored append-only, once per event id however often the outbox redelivers it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.device_digests import device_digest
from shared.contracts.events import EventIn
from shared.database import insert_new
from shared.geo import place_of
from shared.networks import network_of


def derived(event: EventIn) -> dict[str, Any]:
    """What features read as columns: the device's own key, the IP's network, country and operator, the amount and
    the bank account (a keyed digest, from the producer)."""
    place = place_of(event.ip) if event.ip else None
    amount = event.data.get("amount")
    device_key = event.data.get("device_key")
    bank_account = event.data.get("bank_account")
    return {
        "device_key": str(device_key)[:200] if device_key else None,
        "device_digest": device_digest(str(device_key)[:200]) if device_key else None,
        "network": network_of(event.ip) if event.ip else None,
        "country": place.country_code if place else None,
        "asn": (getattr(place, "network_name", None) or None) if place else None,
        "amount": amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        "bank_account": str(bank_account)[:64] if bank_account else None,
    }


async def ingest(session: AsyncSession, events: Sequence[EventIn], *, producer: str, now: datetime) -> set[str]:
    """Store the events not stored yet, in one statement; the ids of those that are new (a redelivery is not)."""
    rows = [
        {
            **derived(event),
            "id": event.event_id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "producer": producer,
            "customer_id": event.customer_id,
            "device_id": event.device_id,
            "ip": event.ip,
            "outcome": event.outcome,
            "channel": event.channel,
            "data": json.dumps(event.data, ensure_ascii=False),
        }
        for event in events
    ]
    return await insert_new(session, models.event, rows)
