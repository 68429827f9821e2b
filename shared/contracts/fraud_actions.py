"""fraud → auth: what fraud asks auth to do to a customer when a rule hits (RESP-1, RESP-3).

- `POST /internal/customers/{customer_id}/fraud-actions` (auth; only fraud) with `FraudActionRequest`, sent
  through fraud's outbox (at least once; auth applies each action once per score).
- `block_device` (SEC-3): staff deny-listed a device as infected (`block_id`: the list entry); auth ends the
  sessions of the customer's `device_ids` (auth's own ids of that phone, as fraud's events name them), stops
  trusting them, refuses the customer's logins from it until `until` (or for good) and warns the customer once per
  device (`device_digest`); `unblock_device`: the entry was removed or replaced, the customer may log in from it
  again (with the second factor: the device is trusted no more).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

FraudAction = Literal["notify_suspicious", "lock", "revoke_sessions", "block_device", "unblock_device"]
SUMMARY_MAX = 300  # what auth's route and the suspicious_activity notice take


def device_digest_of(key: str) -> str:
    """How fraud (and its staff views) name a device: the first 32 hex digits of the SHA-256 of the app's device key
    (services/fraud/device_digests.py); auth finds its device rows by it in a `block_device`."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def fraud_actions_path(customer_id: str) -> str:
    """auth's route for what fraud asks it to do to this customer."""
    return f"/internal/customers/{customer_id}/fraud-actions"


class FraudActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: FraudAction
    summary: str | None = Field(
        default=None, min_length=1, max_length=SUMMARY_MAX, description="what was seen, one line"
    )
    case_id: str | None = Field(default=None, max_length=40)
    score_id: str | None = Field(default=None, max_length=40)
    block_id: str | None = Field(default=None, max_length=40, description="block_device: the deny-list entry")
    device_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{32}$", description="block_device")
    device_ids: list[Annotated[str, Field(max_length=40)]] | None = Field(default=None, max_length=100)
    until: AwareDatetime | None = Field(default=None, description="block_device: when the deny entry expires")

    @model_validator(mode="after")
    def _identified(self) -> FraudActionRequest:
        # The score (or the case, or the block) is what makes a redelivery recognisable as the same request.
        if self.action in ("block_device", "unblock_device"):
            if self.block_id is None or self.device_digest is None:
                raise ValueError("block_device needs block_id and device_digest")
            return self
        if self.score_id is None and self.case_id is None:
            raise ValueError("score_id or case_id is required")
        if self.action == "notify_suspicious" and self.summary is None:
            raise ValueError("a notice needs its summary")
        return self

    @property
    def ref(self) -> str:
        return self.score_id or (f"case:{self.case_id}" if self.case_id else f"block:{self.block_id}")
