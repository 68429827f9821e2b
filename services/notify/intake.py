"""Accepting a notification: validate its data, choose its channels, render it, and queue one delivery per channel.

Accepting is idempotent: the same idempotency key with the same request returns what was accepted
the first time and sends nothing again; the same key with a different request is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import models
from services.notify.errors import IdempotencyConflict, InvalidNotification, NoContact
from services.notify.events import FIXED_CHANNELS, Channel
from services.notify.rendering import Rendered, Renderer
from shared.clock import Clock
from shared.contracts.notifications import EventType, NotificationRequest, validate_data
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.masking import mask_address, mask_email, mask_phone
from shared.problems import violations_from


@dataclass(frozen=True)
class Accepted:
    notification_id: str
    created: bool  # False when the key had been accepted before


def request_digest(request: NotificationRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validated_data(request: NotificationRequest) -> dict[str, Any]:
    try:
        data = validate_data(request.event_type, request.data)
    except ValidationError as exc:
        violations = [{**v, "field": "data." + v["field"]} for v in violations_from(exc.errors())]
        raise InvalidNotification(
            f"The data of a {request.event_type.value} notification is invalid.", violations=violations
        ) from exc
    return data.model_dump()


def choose_channels(request: NotificationRequest, *, sms_events: list[str], customer_wants_sms: bool) -> list[Channel]:
    event = request.event_type
    if event in FIXED_CHANNELS:
        return list(FIXED_CHANNELS[event])
    if event is EventType.ONE_TIME_CODE:
        if request.channel is None:
            raise InvalidNotification(
                "A one-time code needs its channel.",
                violations=[{"field": "channel", "code": "missing", "message": "sms or email"}],
            )
        return [Channel(request.channel)]
    channels = []
    if request.to.email:
        channels.append(Channel.EMAIL)
    if request.to.phone and (not request.to.email or event.value in sms_events or customer_wants_sms):
        channels.append(Channel.SMS)
    return channels


def _recipient(channel: Channel, request: NotificationRequest, data: dict[str, Any]) -> tuple[str, str]:
    """(recipient in full, masked) for a channel, or NoContact when the customer has no such contact."""
    if channel is Channel.EMAIL and request.to.email:
        return request.to.email, mask_email(request.to.email)
    if channel is Channel.SMS and request.to.phone:
        return request.to.phone, mask_phone(request.to.phone)
    if channel is Channel.POST:
        postal = f"〒{data['postal_code']}\n{data['address']}\n{data['name']} 様"
        return postal, f"〒{data['postal_code'][:3]}… {mask_address(data['address'])}"
    raise NoContact(f"No {channel.value} contact was given for this notification.")


def _content(channel: Channel, rendered: Rendered) -> tuple[str, str]:
    if channel is Channel.EMAIL:
        return rendered.subject, rendered.body
    if channel is Channel.SMS:
        return "", rendered.sms
    return rendered.subject, rendered.letter


async def _already_accepted(session: AsyncSession, key: str, digest: str) -> Accepted | None:
    found = (
        await session.execute(
            select(models.notification.c.id, models.notification.c.request_digest).where(
                models.notification.c.idempotency_key == key
            )
        )
    ).first()
    if found is None:
        return None
    if found.request_digest != digest:
        raise IdempotencyConflict("This idempotency key was used for a different notification.")
    return Accepted(found.id, created=False)


async def accept(
    session: AsyncSession,
    request: NotificationRequest,
    *,
    producer: str,
    renderer: Renderer,
    cipher: FieldCipher,
    clock: Clock,
    sms_events: list[str],
) -> Accepted:
    digest = request_digest(request)
    earlier = await _already_accepted(session, request.idempotency_key, digest)
    if earlier is not None:
        return earlier

    data = validated_data(request)
    wants_sms = False
    if request.customer_id is not None:
        wants_sms = bool(
            (
                await session.execute(
                    select(models.preference.c.sms).where(models.preference.c.customer_id == request.customer_id)
                )
            ).scalar()
        )
    channels = choose_channels(request, sms_events=sms_events, customer_wants_sms=wants_sms)
    if not channels:
        raise NoContact("The notification has no contact to go to: give an email address or a phone number.")
    rendered = renderer.render(request.event_type, request.language, data)
    now = clock.now()
    notification_id = new_id("ntf")
    try:
        async with session.begin_nested():
            await session.execute(
                models.notification.insert().values(
                    id=notification_id,
                    idempotency_key=request.idempotency_key,
                    request_digest=digest,
                    event_type=request.event_type.value,
                    language=request.language,
                    customer_id=request.customer_id,
                    producer=producer,
                    created_at=now,
                )
            )
    except IntegrityError:
        # A concurrent redelivery of the same key won the race: answer as for any redelivery.
        again = await _already_accepted(session, request.idempotency_key, digest)
        assert again is not None
        return again
    for channel in channels:
        recipient, masked = _recipient(channel, request, data)
        subject, body = _content(channel, rendered)
        await session.execute(
            models.delivery.insert().values(
                id=new_id("dlv"),
                notification_id=notification_id,
                channel=channel.value,
                recipient=cipher.seal(recipient, context="delivery.recipient"),
                recipient_masked=masked,
                subject=cipher.seal(subject, context="delivery.subject"),
                body=cipher.seal(body, context="delivery.body"),
                status="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return Accepted(notification_id, created=True)
