"""Step-up at the gateway (RFC 9470): the challenge a request gets when its session lacks what the policy asks,
and the redemption of the `Step-Up-Grant` the repeated request brings.

A grant is bound to the operation and to a digest of the request's key fields as the policy names them
(`key_fields`: the changed attribute, the amount and the ATM, the bank account): dynamic linking, PSD2 RTS art. 5.
The binding is generic: an operation declares its fields in the policy and nothing here changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from services.gateway.clients import AuthClient, AuthUnavailable, NoStepUpMethod
from services.gateway.policy import Decision, OperationPolicy
from shared.contracts.step_up import RedeemRequest, StepUpChallengeRequest
from shared.problems import Problem
from shared.tokens import Factor

GRANT_HEADER = "step-up-grant"
SUMMARY_FIELDS = ("amount",)  # what the SMS text of a transaction code shows ("出金 30,000円")


def key_fields_digest(rule: OperationPolicy, body: Any, raw: bytes) -> str:
    """sha-256 over the operation's key fields present in the body (canonical JSON). A body that is not a JSON
    object binds the grant to its exact bytes, so that no other body can use it."""
    if not rule.key_fields:
        bound: dict[str, Any] = {}
    elif isinstance(body, dict):
        bound = {name: body[name] for name in rule.key_fields if name in body}
    else:
        bound = {"_body": hashlib.sha256(raw).hexdigest()}
    canonical = json.dumps(bound, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def challenge_summary(rule: OperationPolicy, body: Any) -> dict[str, Any]:
    """What the challenge tells the customer they approve: the amount, and the names of the fields changed."""
    if not isinstance(body, dict):
        return {}
    summary: dict[str, Any] = {name: body[name] for name in SUMMARY_FIELDS if name in rule.key_fields and name in body}
    changed = [name for name in rule.key_fields if name in body and name not in SUMMARY_FIELDS]
    if changed:
        summary["fields"] = changed
    return summary


class StepUpRequired(Problem):
    status = 401
    code = "step_up_required"


class ReauthenticationRequired(Problem):
    """What is missing is not a possession factor (the login is too old for this operation): sign in again."""

    status = 401
    code = "reauthentication_required"


def www_authenticate(decision: Decision) -> str:
    """RFC 9470 section 3: the error, and what the authorization server must achieve."""
    parts = ['Bearer realm="sekisho"', 'error="insufficient_user_authentication"']
    if decision.acr_values:
        parts.append(f'acr_values="{decision.acr_values}"')
    if decision.max_age:
        parts.append(f"max_age={decision.max_age}")
    return ", ".join(parts)


async def challenge(
    auth: AuthClient,
    decision: Decision,
    *,
    customer_id: str,
    operation: str,
    fields_digest: str,
    summary: dict[str, Any],
) -> Problem:
    """The 401 for a request that must step up: a challenge created at auth for this operation and these fields,
    or, where a challenge cannot help, the demand to sign in again."""
    headers = {"WWW-Authenticate": www_authenticate(decision)}
    if not decision.methods:
        return ReauthenticationRequired(
            "This operation needs a recent sign-in: please sign in again, then repeat the request.",
            headers=headers,
            reasons=list(decision.reasons),
            max_age=decision.max_age,
        )
    asked = StepUpChallengeRequest(
        customer_id=customer_id,
        operation=operation,
        fields_digest=fields_digest,
        summary=summary,
        methods=list(decision.methods),
    )
    try:
        created = await auth.step_up_challenge(asked)
    except NoStepUpMethod:  # none of the methods is the customer's (no authenticator app enrolled)
        return Problem(
            "This operation is not allowed.",
            code="operation_denied",
            status=403,
            reasons=[*decision.reasons, "no_usable_method"],
        )
    except AuthUnavailable as exc:
        return exc
    return StepUpRequired(
        "This operation needs an additional verification: prove a factor with the challenge, then repeat the "
        "request with the Step-Up-Grant header.",
        headers=headers,
        challenge=created.model_dump(exclude_none=True),
        reasons=list(decision.reasons),
        factors=list(decision.factors),
    )


async def redeem(
    auth: AuthClient, grant: str, *, customer_id: str, operation: str, fields_digest: str
) -> Factor | None:
    """The factor the grant proves, used up; None when auth refuses it (unknown, used, expired, other fields)."""
    if not 10 <= len(grant) <= 100:
        return None
    redeemed = await auth.redeem(
        RedeemRequest(grant=grant, customer_id=customer_id, operation=operation, fields_digest=fields_digest)
    )
    return Factor.from_claim(redeemed.factor) if redeemed is not None else None
