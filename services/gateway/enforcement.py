"""Risk-based authentication of one request (ARCHITECTURE.md "The gateway", steps 4 and 5).

After the caller is authenticated and the controls have passed: fraud scores the request where the policy says so,
`policy.decide` answers, and the request is cleared (the identity it is forwarded with grows by the score and the
step-up factor), or stopped with a step-up challenge (401, RFC 9470), a refusal (403 `operation_denied`, or
`kyc_required` where the customer's identity is not verified, KYC-2) or, for
an operation that fails closed, 503 when fraud or auth cannot answer. Nothing reaches a service that the policy
did not allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from fastapi import Request

from services.gateway import risk, step_up
from services.gateway.clients import AuthClient, FraudClient
from services.gateway.policy import Caller, Decision, Grant, OperationPolicy, Policy, SessionState, decide
from services.gateway.routes import Route
from shared.clock import Clock
from shared.database import Database
from shared.events import record_event
from shared.metrics import ServiceMetrics
from shared.outbox import Outbox
from shared.problems import Problem
from shared.tokens import AccessClaims, Factor


class OperationDenied(Problem):
    status = 403
    code = "operation_denied"


class DeviceBlocked(Problem):
    """SEC-3: the device is believed infected (fraud's deny list, reason malware): nothing is done from it."""

    status = 403
    code = "device_blocked"


class KycRequired(Problem):
    """KYC-2: the operation needs a verified identity; the client sends the customer to identity proofing."""

    status = 403
    code = "kyc_required"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        # The service answers a malformed body with its own problem; JsonDepthMiddleware has already refused
        # bodies deep enough to exhaust the parser, this is the last line.
        return None


@dataclass
class _Asked:
    """One request as the policy sees it."""

    route: Route
    rule: OperationPolicy
    claims: AccessClaims | None
    ip: str
    raw: bytes
    body: Any  # the JSON body where the policy needs it (score, key fields), else None
    customer_id: str | None
    now: float
    scored: risk.Scored | None = None


@dataclass
class Enforcer:
    policy: Policy
    auth: AuthClient
    fraud: FraudClient
    clock: Clock
    score_timeout_seconds: float
    database: Database
    outbox: Outbox
    metrics: ServiceMetrics | None = None

    def _count_step_up(self, asked: _Asked, outcome: str) -> None:
        """challenged (a 401 with a challenge or a demand to sign in again), granted, denied (a grant refused)."""
        if self.metrics is not None:
            self.metrics.step_ups.labels(asked.route.operation, outcome).inc()

    async def _record(self, outcome: str, asked: _Asked, reasons: tuple[str, ...]) -> None:
        """Every request the policy stopped, and every step-up that passed, is an event for fraud (MON-1's trends
        of step-ups and refusals per operation; a case's evidence). Requests simply allowed are not recorded."""
        claims = asked.claims
        async with self.database.transaction() as session:
            await record_event(
                self.outbox,
                session,
                type="gateway_decision",
                occurred_at=self.clock.now(),
                customer_id=asked.customer_id,
                device_id=claims.device_id if claims is not None else None,
                ip=asked.ip,
                outcome=outcome,
                data={
                    "operation": asked.route.operation,
                    "reasons": list(reasons),
                    "score_id": asked.scored.score_id if asked.scored else None,
                },
            )

    async def clear(
        self,
        request: Request,
        route: Route,
        *,
        caller: Caller,
        claims: AccessClaims | None,
        ip: str,
        contact_changed_at: int | None = None,
        kyc_verified: bool = False,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The context to forward with, once the policy allows the request; raises the problem that stops it.
        `contact_changed_at`: when the customer's e-mail or phone last changed, and `kyc_verified`: whether the
        customer's identity is verified now (KYC-2), both as auth's session check said. `params`: the route's path
        parameters, which count as key fields where the policy names them (the device a removal is for)."""
        rule = self.policy.operations[route.operation]
        raw = await request.body()
        body = _json(raw) if raw and (rule.score or rule.key_fields) else None
        in_path = {name: value for name, value in (params or {}).items() if name in rule.key_fields}
        if in_path:
            # The path wins over a body field of the same name: the grant binds what the service will act on.
            body = {**(body if isinstance(body, dict) else {}), **in_path}
        asked = _Asked(
            route=route,
            rule=rule,
            claims=claims,
            ip=ip,
            raw=raw,
            body=body,
            customer_id=claims.subject if claims is not None and claims.subject_type == "customer" else None,
            now=self.clock.timestamp(),
        )
        if rule.score:
            asked.scored = await risk.score(
                self.fraud,
                risk.score_request(
                    route.operation,
                    customer_id=asked.customer_id,
                    device_id=claims.device_id if claims is not None else None,
                    ip=ip,
                    body=asked.body,
                ),
                timeout_seconds=self.score_timeout_seconds,
            )
        session = SessionState(
            caller=caller,
            factors=claims.factors if claims is not None else (),
            kyc_verified=kyc_verified,
            contact_changed_at=contact_changed_at,
        )
        decision = self._decide(asked, session)
        granted: Factor | None = None
        if decision.outcome == "step_up" and asked.customer_id is not None:
            granted = await self._step_up(request, asked, session, decision)
        elif decision.outcome != "allow":
            await self._refuse(asked, decision)
        cleared: dict[str, Any] = {"operation": route.operation}
        if asked.scored is not None:
            cleared["risk"] = asked.scored.to_context()
        if granted is not None:
            self._count_step_up(asked, "granted")
            await self._record("step_up_passed", asked, decision.reasons)
            cleared["step_up"] = granted.to_claim()
            cleared["factors"] = [factor.to_claim() for factor in (*session.factors, granted)]
        return cleared

    def _decide(self, asked: _Asked, session: SessionState) -> Decision:
        risk_now = asked.scored.risk if asked.scored else None
        return decide(
            self.policy, asked.route.operation, session, risk_now, now=asked.now, continuation=asked.route.continues
        )

    async def _step_up(self, request: Request, asked: _Asked, session: SessionState, decision: Decision) -> Factor:
        """The factor of the Step-Up-Grant the request brings, redeemed at auth, when it makes the policy allow the
        request; otherwise the challenge (401) to answer first."""
        operation, customer_id = asked.route.operation, asked.customer_id
        assert customer_id is not None
        fields_digest = step_up.key_fields_digest(asked.rule, asked.body, asked.raw)
        presented = request.headers.get(step_up.GRANT_HEADER)
        if presented:
            granted = await step_up.redeem(
                self.auth,
                presented.strip(),
                customer_id=customer_id,
                operation=operation,
                fields_digest=fields_digest,
            )
            if granted is not None:
                decision = self._decide(asked, replace(session, grant=Grant(operation, granted)))
                if decision.outcome == "allow":
                    return granted
                if decision.outcome != "step_up":
                    self._count_step_up(asked, "denied")
                    await self._refuse(asked, decision)
            else:
                self._count_step_up(asked, "denied")
                decision = replace(decision, reasons=(*decision.reasons, "grant_invalid"))
        self._count_step_up(asked, "challenged")
        await self._record("step_up_required", asked, decision.reasons)
        raise await step_up.challenge(
            self.auth,
            decision,
            customer_id=customer_id,
            operation=operation,
            fields_digest=fields_digest,
            summary=step_up.challenge_summary(asked.rule, asked.body),
        )

    async def _refuse(self, asked: _Asked, decision: Decision) -> NoReturn:
        await self._record("unavailable" if decision.outcome == "unavailable" else "denied", asked, decision.reasons)
        if decision.outcome == "unavailable":
            raise Problem(
                "This operation cannot be checked right now; nothing was done. Please try again shortly.",
                code="service_unavailable",
                status=503,
                headers={"Retry-After": "5"},
            )
        if decision.code == "kyc_required":
            raise KycRequired(
                "Verify your identity first: this operation needs a verified identity.", reasons=["kyc_required"]
            )
        if decision.outcome == "deny" and asked.scored is not None and asked.scored.refusal == "device_blocked":
            raise DeviceBlocked(
                "This device may be infected with malware, so it cannot be used to sign in or to act on the account. "
                "Please follow the notice we sent you, or call our support desk.",
                reasons=list(decision.reasons),
            )
        # A deny, or a step-up that only a customer could give.
        raise OperationDenied("This operation is not allowed.", reasons=list(decision.reasons))
