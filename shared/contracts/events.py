"""every service → fraud: what happened (a login, a change, a decision at the edge), sent through the outbox.

- `POST /internal/events` (fraud; gateway, auth, kyc and txn) with `EventIn` → 201 stored, 200 already stored.
- `POST /internal/events/batch` with shared/batches.py's envelope, each body an `EventIn`.
shared/events.py's `record_event` writes them; services/fraud/intake.py stores them.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.channels import Channel


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=8, max_length=40)
    type: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    occurred_at: AwareDatetime
    customer_id: str | None = Field(default=None, max_length=40)
    device_id: str | None = Field(default=None, max_length=40)
    ip: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="ok", max_length=40)
    # MON-1 (shared/channels.py); a producer older than channels sends none: `unknown`, not a guess.
    channel: Channel = "unknown"
    data: dict[str, Any] = Field(default_factory=dict)
