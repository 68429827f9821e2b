"""What happened, for fraud: every service records its events through its outbox, in the transaction of the change.

An event leaves only if the change commits, and reaches fraud at least once (deduplicated by its id),
however long fraud is unreachable: a service never waits on fraud to record what a customer did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.channels import Channel, channel_var
from shared.contracts.events import EventIn
from shared.ids import new_id
from shared.outbox import Outbox
from shared.statements import Statements

EVENTS_PATH = "/internal/events"
EVENTS_BATCH_PATH = "/internal/events/batch"


async def record_event(
    outbox: Outbox,
    session: AsyncSession | Statements,
    *,
    type: str,
    occurred_at: datetime,
    customer_id: str | None = None,
    device_id: str | None = None,
    ip: str | None = None,
    outcome: str = "ok",
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
    channel: Channel | None = None,
) -> str:
    """Queue the event with `session`; its id (made here unless the caller derives one to find it again). Its
    channel is the request's (shared/channels.py: `system` outside a request) unless the caller says."""
    event_id = event_id or new_id("evt")
    # Not validated here: fraud validates on arrival, and an event it refuses is kept for staff (shared/outbox.py),
    # where a refusal here would fail the customer's login or change that the event only describes.
    event = EventIn.model_construct(
        event_id=event_id,
        type=type,
        occurred_at=occurred_at,
        customer_id=customer_id,
        device_id=device_id,
        ip=ip,
        outcome=outcome,
        channel=channel or channel_var.get(),
        data=data or {},
    )
    payload = event.model_dump(mode="json")
    await outbox.enqueue(session, destination="fraud", path=EVENTS_PATH, payload=payload, key=event_id, urgent=False)
    return event_id
