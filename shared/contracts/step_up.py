"""gateway → auth: step-up challenges for an operation and the redemption of the grant that answers one.

- `POST /internal/step-up/challenges` (auth; only the gateway) with `StepUpChallengeRequest` → 201
  `StepUpChallenge`, or 422 `no_method` when none of the methods is the customer's.
- `POST /internal/step-up/redeem` (auth; only the gateway) with `RedeemRequest` → `Redeemed`, or 409/422 when
  the grant is unknown, used, expired or bound to other fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StepUpChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(max_length=40)
    operation: str = Field(max_length=32)
    fields_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    summary: dict[str, Any] = Field(default_factory=dict)
    methods: list[str] = Field(default_factory=lambda: ["totp", "sms", "email"], min_length=1)


class StepUpChallenge(BaseModel):
    """What the customer is shown in the 401 `step_up_required` (API.md `challenge`)."""

    id: str
    methods: list[str]
    caution: str
    expires_in: int
    operation: str
    # With method "passkey": the PublicKeyCredentialRequestOptions (JSON) for navigator.credentials.get(), whose
    # assertion answers the challenge (`{"method": "passkey", "credential": {...}}`).
    passkey: dict[str, Any] | None = None


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grant: str = Field(min_length=10, max_length=100)
    customer_id: str = Field(max_length=40)
    operation: str = Field(max_length=32)
    fields_digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class Redeemed(BaseModel):
    factor: dict[str, Any]  # shared.tokens.Factor as a claim (Factor.to_claim / Factor.from_claim)
