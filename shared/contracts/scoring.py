"""gateway → fraud: the score of an operation before it happens, and the IP deny list in force.

- `POST /score` (fraud; only the gateway) with `ScoreRequest` → `ScoreAnswer`. On the measured path of every
  scored request: the gateway parses the answer from its bytes (`model_validate_json`), nothing more.
- `GET /internal/lists/ips/denied` (fraud; only the gateway) → `DeniedNetworks`, read every second by each replica.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ScoreAction = Literal["allow", "step_up", "review", "deny"]


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
    action: ScoreAction = Field(description="allow | step_up | review | deny")
    reasons: list[Reason]
    summary: str = Field(description="the reasons in one line, heaviest first")
    rule_set_version: int
    case_id: str | None = Field(default=None, description="the case opened for review, when one was")
    # SEC-3: the device is deny-listed as infected; the gateway refuses with 403 `device_blocked`, not a plain denial.
    refusal: Literal["device_blocked"] | None = None


class DeniedNetworks(BaseModel):
    networks: list[str]  # CIDR text, as fraud's ips list holds it
