"""fraud → auth: what fraud asks auth to do to a customer when a rule hits (RESP-1, RESP-3).

- `POST /internal/customers/{customer_id}/fraud-actions` (auth; only fraud) with `FraudActionRequest`, sent
  through fraud's outbox (at least once; auth applies each action once per score).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FraudAction = Literal["notify_suspicious", "lock", "revoke_sessions"]
SUMMARY_MAX = 300  # what auth's route and the suspicious_activity notice take


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

    @model_validator(mode="after")
    def _identified(self) -> FraudActionRequest:
        # The score (or the case) is what makes a redelivery recognisable as the same request.
        if self.score_id is None and self.case_id is None:
            raise ValueError("score_id or case_id is required")
        if self.action == "notify_suspicious" and self.summary is None:
            raise ValueError("a notice needs its summary")
        return self

    @property
    def ref(self) -> str:
        return self.score_id or f"case:{self.case_id}"
