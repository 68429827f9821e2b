"""The fraud service's contract with the services that report events (shared/events.py writes them)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=8, max_length=40)
    type: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    occurred_at: AwareDatetime
    customer_id: str | None = Field(default=None, max_length=40)
    device_id: str | None = Field(default=None, max_length=40)
    ip: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="ok", max_length=40)
    data: dict[str, Any] = Field(default_factory=dict)


class ScoreRequest(BaseModel):
    """What the gateway (or a service about to move money) asks: score this operation in its context."""

    model_config = ConfigDict(extra="forbid")

    operation: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    customer_id: str | None = Field(default=None, max_length=40)
    device_id: str | None = Field(default=None, max_length=40)
    device_key: str | None = Field(default=None, max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    amount: int | None = Field(default=None, ge=0, le=10**12)
    bank_account: str | None = Field(default=None, max_length=64)
    max_amount: int | None = Field(default=None, ge=0, le=10**12)


class Reason(BaseModel):
    rule: str
    weight: int
    reason: str


class ScoreAnswer(BaseModel):
    score_id: str
    score: int = Field(ge=0, le=100)
    action: str = Field(description="allow | step_up | review | deny")
    reasons: list[Reason]
    summary: str = Field(description="the reasons in one line, heaviest first")
    rule_set_version: int
    case_id: str | None = Field(default=None, description="the case opened for review, when one was")
