"""Asking fraud to score a request before it is forwarded (ARCHITECTURE.md "The gateway", step 4).

The context is what the gateway knows without reading any service's data: the caller's customer, session device
and address, and from the body the amount and the app's device id. An answer that cannot be had in time is
`None`: the policy decides whether that fails closed (money and attribute changes) or is only noted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from services.gateway.clients import FraudClient, FraudUnavailable
from services.gateway.policy import Risk
from shared.contracts.scoring import ScoreRequest

log = logging.getLogger("sekisho.gateway.risk")


@dataclass(frozen=True)
class Scored:
    risk: Risk
    score_id: str
    reasons: tuple[str, ...]  # the rules that hit, heaviest first
    refusal: str | None = None  # "device_blocked": denied because the device is believed infected (SEC-3)

    def to_context(self) -> dict[str, Any]:
        return {"score": self.risk.score, "action": self.risk.action, "score_id": self.score_id}


def score_request(
    operation: str, *, customer_id: str | None, device_id: str | None, ip: str, body: Any
) -> ScoreRequest:
    """fraud's `POST /score` for this request. Built without validation (`model_construct`, on the path of every
    scored request): what is taken from the body is checked here, the rest is the gateway's own; fraud validates
    it again, and a request it refuses is a score missing, as before."""
    amount: int | None = None
    device_key: str | None = None
    if isinstance(body, dict):
        found = body.get("amount")
        if isinstance(found, int) and not isinstance(found, bool) and 0 <= found <= 10**12:
            amount = found
        key = body.get("device_id")  # the app's own device id, sent at login
        if isinstance(key, str) and 0 < len(key) <= 200:
            device_key = key
    return ScoreRequest.model_construct(
        operation=operation, customer_id=customer_id, device_id=device_id, ip=ip, amount=amount, device_key=device_key
    )


async def score(fraud: FraudClient, request: ScoreRequest, *, timeout_seconds: float) -> Scored | None:
    """Fraud's score, or None when fraud cannot answer in time or answers something unusable."""
    try:
        answer = await fraud.score(request, timeout_seconds=timeout_seconds)
    except FraudUnavailable as exc:
        log.warning("fraud could not score %s: %s", request.operation, exc.detail)
        return None
    reasons = tuple(reason.rule for reason in answer.reasons)
    return Scored(Risk(answer.score, answer.action), answer.score_id, reasons, answer.refusal)
