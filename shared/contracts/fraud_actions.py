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


# ---- incidents (INC-1, INC-3) ----------------------------------------------------------------------------------------
# - `POST /internal/incident-actions` (auth; only fraud) with `IncidentActionRequest` → `IncidentActionResult`: staff's
#   containment of an incident's customers (lock, end sessions) and its notices, asked at once (not through the
#   outbox) so that staff see which customers failed. Applied once per incident, action and customer: a request
#   sent again changes nothing more.

INCIDENT_ACTIONS_PATH = "/internal/incident-actions"
INCIDENT_ACTIONS_BATCH = 500  # customers per call; fraud splits a containment into calls of this many
IncidentAction = Literal["lock", "revoke_sessions", "invalidate_password", "notify"]
IncidentNoticeTemplate = Literal["incident_caution", "incident_password_reset", "incident_apology"]


class IncidentActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: str = Field(min_length=1, max_length=40)
    action: IncidentAction
    customer_ids: list[str] = Field(min_length=1, max_length=INCIDENT_ACTIONS_BATCH)
    template: IncidentNoticeTemplate | None = Field(default=None, description="the notice's, for `notify`")
    reference: str | None = Field(default=None, max_length=40, description="what the notice calls the incident")
    detected_at: AwareDatetime | None = Field(default=None, description="when the incident was found, for the notice")
    language: Literal["ja", "en"] | None = Field(default=None, description="default: each customer's own")

    @model_validator(mode="after")
    def _notice(self) -> IncidentActionRequest:
        if (self.action == "notify") != (self.template is not None and self.detected_at is not None):
            raise ValueError("a template and the detection time go with notify, and only with it")
        return self


class IncidentActionDone(BaseModel):
    customer_id: str
    done: bool
    already: bool = False
    reason: str | None = None
    sessions_ended: int | None = None


class IncidentActionResult(BaseModel):
    results: list[IncidentActionDone]
