"""Risk-based authentication of one request (ARCHITECTURE.md "The gateway", steps 4 and 5).

After the caller is authenticated and the controls have passed: fraud scores the request where the policy says so,
`policy.decide` answers, and the request is cleared (the identity it is forwarded with grows by the score and the
step-up factor), or stopped with a step-up challenge (401, RFC 9470), a refusal (403 `operation_denied`) or, for
an operation that fails closed, 503 when fraud or auth cannot answer. Nothing reaches a service that the policy
did not allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.gateway import risk, step_up
from services.gateway.policy import Caller, Decision, Grant, Policy, SessionState, decide
from services.gateway.routes import Route
from shared.clock import Clock
from shared.database import Database
from shared.events import record_event
from shared.internal_client import InternalClient
from shared.outbox import Outbox
from shared.problems import Problem
from shared.tokens import AccessClaims, Factor


class OperationDenied(Problem):
    status = 403
    code = "operation_denied"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None  # the service answers a malformed body with its own problem


@dataclass
class Enforcer:
    policy: Policy
    client: InternalClient
    clock: Clock
    score_timeout_seconds: float
    database: Database | None = None
    outbox: Outbox | None = None

    async def _record(
        self,
        outcome: str,
        operation: str,
        *,
        claims: AccessClaims | None,
        ip: str,
        reasons: tuple[str, ...],
        score_id: str | None,
    ) -> None:
        """Every request the policy stopped, and every step-up that passed, is an event for fraud (MON-1's trends
        of step-ups and refusals per operation; a case's evidence). Requests simply allowed are not recorded."""
        if self.database is None or self.outbox is None:
            return
        async with self.database.transaction() as session:
            await record_event(
                self.outbox,
                session,
                type="gateway_decision",
                occurred_at=self.clock.now(),
                customer_id=claims.subject if claims is not None and claims.subject_type == "customer" else None,
                device_id=claims.device_id if claims is not None else None,
                ip=ip,
                outcome=outcome,
                data={"operation": operation, "reasons": list(reasons), "score_id": score_id},
            )

    async def clear(
        self, request: Request, route: Route, *, caller: Caller, claims: AccessClaims | None, ip: str
    ) -> dict[str, Any]:
        """The context to forward with, once the policy allows the request; raises the problem that stops it."""
        operation = route.operation
        rule = self.policy.operations[operation]
        raw = await request.body()
        body = _json(raw) if raw and (rule.score or rule.key_fields) else None
        customer_id = claims.subject if claims is not None and claims.subject_type == "customer" else None
        scored = None
        if rule.score:
            scored = await risk.score(
                self.client,
                risk.score_request(
                    operation,
                    customer_id=customer_id,
                    device_id=claims.device_id if claims is not None else None,
                    ip=ip,
                    body=body,
                ),
                timeout_seconds=self.score_timeout_seconds,
            )
        session = SessionState(
            caller=caller,
            factors=claims.factors if claims is not None else (),
            # KYC-2: verified identity comes with the kyc service (a later issue); until then no operation that
            # requires it (money movement, bank links) is allowed.
            kyc_verified=False,
        )
        now = self.clock.timestamp()
        decision = decide(
            self.policy, operation, session, scored.risk if scored else None, now=now, continuation=route.continues
        )
        granted: Factor | None = None
        if decision.outcome == "step_up" and customer_id is not None:
            fields_digest = step_up.key_fields_digest(rule, body, raw)
            presented = request.headers.get(step_up.GRANT_HEADER)
            refused = False
            if presented:
                granted = await step_up.redeem(
                    self.client,
                    presented.strip(),
                    customer_id=customer_id,
                    operation=operation,
                    fields_digest=fields_digest,
                )
                refused = granted is None
                if granted is not None:
                    session = SessionState(
                        caller=caller,
                        factors=session.factors,
                        grant=Grant(operation, granted),
                        kyc_verified=session.kyc_verified,
                    )
                    decision = decide(
                        self.policy,
                        operation,
                        session,
                        scored.risk if scored else None,
                        now=now,
                        continuation=route.continues,
                    )
            if decision.outcome == "step_up":
                await self._record(
                    "step_up_required",
                    operation,
                    claims=claims,
                    ip=ip,
                    reasons=(*decision.reasons, *(("grant_invalid",) if refused else ())),
                    score_id=scored.score_id if scored else None,
                )
                if refused:
                    decision = Decision(
                        decision.outcome,
                        (*decision.reasons, "grant_invalid"),
                        decision.factors,
                        decision.acr_values,
                        decision.max_age,
                        decision.methods,
                    )
                raise await step_up.challenge(
                    self.client,
                    decision,
                    customer_id=customer_id,
                    operation=operation,
                    fields_digest=fields_digest,
                    summary=step_up.challenge_summary(rule, body),
                )
        if decision.outcome != "allow":
            await self._record(
                "denied" if decision.outcome != "unavailable" else "unavailable",
                operation,
                claims=claims,
                ip=ip,
                reasons=decision.reasons,
                score_id=scored.score_id if scored else None,
            )
        if decision.outcome == "deny" or decision.outcome == "step_up":  # a step-up only a customer could give
            raise OperationDenied("This operation is not allowed.", reasons=list(decision.reasons))
        if decision.outcome == "unavailable":
            raise Problem(
                "This operation cannot be checked right now; nothing was done. Please try again shortly.",
                code="service_unavailable",
                status=503,
                headers={"Retry-After": "5"},
            )
        cleared: dict[str, Any] = {"operation": operation}
        if scored is not None:
            cleared["risk"] = scored.to_context()
        if granted is not None:
            await self._record(
                "step_up_passed",
                operation,
                claims=claims,
                ip=ip,
                reasons=decision.reasons,
                score_id=scored.score_id if scored else None,
            )
            cleared["step_up"] = granted.to_claim()
            cleared["factors"] = [factor.to_claim() for factor in (*session.factors, granted)]
        return cleared
