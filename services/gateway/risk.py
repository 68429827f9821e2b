"""Asking fraud to score a request before it is forwarded (ARCHITECTURE.md "The gateway", step 4).

The context is what the gateway knows without reading any service's data: the caller's customer, session device
and address, and from the body the amount and the app's device id. An answer that cannot be had in time is
`None`: the policy decides whether that fails closed (money and attribute changes) or is only noted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from services.gateway.policy import Risk
from shared.internal_client import InternalClient
from shared.problems import Problem

log = logging.getLogger("sekisho.gateway.risk")

_ACTIONS = ("allow", "step_up", "review", "deny")


@dataclass(frozen=True)
class Scored:
    risk: Risk
    score_id: str
    reasons: tuple[str, ...]  # the rules that hit, heaviest first

    def to_context(self) -> dict[str, Any]:
        return {"score": self.risk.score, "action": self.risk.action, "score_id": self.score_id}


def score_request(
    operation: str, *, customer_id: str | None, device_id: str | None, ip: str, body: Any
) -> dict[str, Any]:
    """The body of fraud's `POST /score` for this request."""
    request: dict[str, Any] = {"operation": operation, "ip": ip}
    if customer_id is not None:
        request["customer_id"] = customer_id
    if device_id is not None:
        request["device_id"] = device_id
    if isinstance(body, dict):
        amount = body.get("amount")
        if isinstance(amount, int) and not isinstance(amount, bool) and 0 <= amount <= 10**12:
            request["amount"] = amount
        device_key = body.get("device_id")  # the app's own device id, sent at login
        if isinstance(device_key, str) and 0 < len(device_key) <= 200:
            request["device_key"] = device_key
    return request


async def score(client: InternalClient, request: dict[str, Any], *, timeout_seconds: float) -> Scored | None:
    """Fraud's score, or None when fraud cannot answer in time or answers something unusable."""
    try:
        response = await client.request(
            "fraud", "POST", "/score", json=request, timeout_seconds=timeout_seconds, idempotent=False
        )
    except Problem as exc:  # down or too slow
        log.warning("fraud could not score %s: %s", request["operation"], exc.detail)
        return None
    if response.status_code != 200:
        log.warning("fraud answered %s to a score of %s", response.status_code, request["operation"])
        return None
    answer = response.json()
    action, value = answer.get("action"), answer.get("score")
    if action not in _ACTIONS or not isinstance(value, int) or not 0 <= value <= 100:
        log.warning("fraud's score of %s is not usable: %r", request["operation"], answer)
        return None
    reasons = tuple(str(reason.get("rule")) for reason in answer.get("reasons", ()) if isinstance(reason, dict))
    return Scored(Risk(value, action), str(answer.get("score_id", "")), reasons)
