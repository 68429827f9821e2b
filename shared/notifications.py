"""How a producing service asks notify to tell a customer something: through its outbox, in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.outbox import Outbox
from shared.statements import Statements

NOTIFY_PATH = "/internal/notifications"


async def send_notification(
    outbox: Outbox,
    session: AsyncSession | Statements,
    *,
    key: str,
    event_type: str,
    data: dict[str, Any],
    customer_id: str | None = None,
    language: str = "ja",
    email: str | None = None,
    phone: str | None = None,
    channel: str | None = None,
    once: bool = False,
) -> None:
    """Queue a notification that leaves only if `session` commits. `key` must identify this very notice; with
    `once`, a key already queued keeps its first notice and this one is dropped."""
    to = {name: value for name, value in (("email", email), ("phone", phone)) if value is not None}
    payload: dict[str, Any] = {
        "idempotency_key": key,
        "event_type": event_type,
        "customer_id": customer_id,
        "language": language,
        "to": to,
        "data": data,
    }
    if channel is not None:
        payload["channel"] = channel
    await outbox.enqueue(session, destination="notify", path=NOTIFY_PATH, payload=payload, key=key, once=once)
