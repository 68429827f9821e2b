"""What notify answers staff. What producers send it is shared/contracts/notifications.py."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeliveryView(BaseModel):
    id: str
    channel: str
    recipient: str = Field(description="masked")
    status: Literal["queued", "sent", "failed", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None


class AttemptView(BaseModel):
    attempted_at: datetime
    outcome: str
    error: str | None


class DeliveryDetail(DeliveryView):
    history: list[AttemptView]


class NotificationView(BaseModel):
    id: str
    idempotency_key: str
    event_type: str
    language: str
    customer_id: str | None
    producer: str
    created_at: datetime
    deliveries: list[DeliveryView]


class NotificationDetail(NotificationView):
    deliveries: list[DeliveryDetail]  # type: ignore[assignment]


class PreferenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sms: bool = Field(description="also send security notices by SMS (email is always sent)")


class PreferenceView(PreferenceBody):
    customer_id: str
    always_on: list[str] = Field(description="notices that cannot be switched off: all of them")
