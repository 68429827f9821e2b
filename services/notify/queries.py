"""Reading notifications and their deliveries for staff: masked recipients, full history, nothing deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import models
from services.notify.errors import NotificationNotFound
from services.notify.schemas import AttemptView, DeliveryDetail, DeliveryView, NotificationDetail, NotificationView


def _delivery_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "recipient": row.recipient_masked,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.status in ("queued", "failed") else None,
        "last_error": row.last_error,
        "sent_at": row.sent_at,
    }


def _notification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "idempotency_key": row.idempotency_key,
        "event_type": row.event_type,
        "language": row.language,
        "customer_id": row.customer_id,
        "producer": row.producer,
        "created_at": row.created_at,
    }


async def list_notifications(
    session: AsyncSession, *, customer_id: str | None, status: str | None, limit: int
) -> list[NotificationView]:
    n, d = models.notification, models.delivery
    query = select(n).order_by(n.c.created_at.desc(), n.c.id.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(n.c.customer_id == customer_id)
    if status is not None:
        query = query.where(n.c.id.in_(select(d.c.notification_id).where(d.c.status == status)))
    notifications = (await session.execute(query)).all()
    ids = [row.id for row in notifications]
    deliveries: dict[str, list[DeliveryView]] = {notification_id: [] for notification_id in ids}
    if ids:
        for row in (
            await session.execute(select(d).where(d.c.notification_id.in_(ids)).order_by(d.c.created_at))
        ).all():
            deliveries[row.notification_id].append(DeliveryView(**_delivery_view(row)))
    return [NotificationView(**_notification_view(row), deliveries=deliveries[row.id]) for row in notifications]


async def get_notification(session: AsyncSession, notification_id: str) -> NotificationDetail:
    n, d, a = models.notification, models.delivery, models.delivery_attempt
    row = (await session.execute(select(n).where(n.c.id == notification_id))).first()
    if row is None:
        raise NotificationNotFound("No such notification.")
    details = []
    for delivery in (
        await session.execute(select(d).where(d.c.notification_id == row.id).order_by(d.c.created_at))
    ).all():
        attempts = (
            await session.execute(select(a).where(a.c.delivery_id == delivery.id).order_by(a.c.attempted_at, a.c.id))
        ).all()
        history = [AttemptView(attempted_at=x.attempted_at, outcome=x.outcome, error=x.error) for x in attempts]
        details.append(DeliveryDetail(**_delivery_view(delivery), history=history))
    return NotificationDetail(**_notification_view(row), deliveries=details)


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    d = models.delivery
    rows = (await session.execute(select(d.c.status, func.count()).group_by(d.c.status))).all()
    return {str(row[0]): int(row[1]) for row in rows}
