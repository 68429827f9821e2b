"""The notify service's contract with the services that ask it to notify a customer, and with staff."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.notify.events import EventType


class Recipient(BaseModel):
    """The customer's registered contacts at the time of the event (for a change: the old or the new one)."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{7,14}$", description="E.164, e.g. +819012345678")


class NotificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    event_type: EventType
    customer_id: str | None = Field(default=None, max_length=40)
    language: Literal["ja", "en"] = "ja"
    to: Recipient = Field(default_factory=Recipient)
    channel: Literal["sms", "email"] | None = Field(default=None, description="one_time_code only: where the code goes")
    data: dict[str, Any]


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
