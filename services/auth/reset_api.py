"""Routes of a forgotten password's reset (password_reset.py), reached through the gateway by anyone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.auth import password_reset
from services.auth.runtime import RuntimeDep
from services.auth.schemas import (
    PasswordResetComplete,
    PasswordResetRequest,
    PasswordResetSend,
    PasswordResetStarted,
    PasswordResetVerify,
    ResetCodeSent,
    ResetCompleted,
    ResetVerified,
)
from shared.dependencies import IdentityDep, only_from
from shared.problems import problem_responses

# Public routes: only the gateway forwards them (it alone applies the policy and the rate limits per address).
router = APIRouter(tags=["password reset"], dependencies=[only_from("gateway")])


def _ip(identity: Any) -> str:
    return str(identity.context.get("client_ip", "unknown"))


@router.post(
    "/v1/auth/password-reset",
    status_code=202,
    responses=problem_responses(
        (404, "challenge_not_found"),
        (410, "challenge_expired"),
        (422, "method_not_allowed"),
        (429, "too_many_attempts"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def request_reset(body: PasswordResetRequest, runtime: RuntimeDep, identity: IdentityDep) -> PasswordResetStarted:
    """Ask for a reset by e-mail address or registered phone number: a code goes by e-mail and one by SMS. The same
    answer whether the id names an account or not (the codes of an unknown id go nowhere)."""
    started = await password_reset.request_reset(runtime, body.login_id, ip=_ip(identity))
    return PasswordResetStarted(
        reset_id=started.reset_id,
        methods=password_reset.SENT_METHODS,
        possession_methods=password_reset.POSSESSION_METHODS,
        expires_in=started.expires_in,
        caution=runtime.caution(body.language),
    )


@router.post(
    "/v1/auth/password-reset/{reset_id}/send",
    status_code=202,
    responses=problem_responses(
        (404, "challenge_not_found"),
        (404, "reset_not_found"),
        (410, "challenge_expired"),
        (410, "reset_expired"),
        (422, "method_not_allowed"),
        (429, "too_many_attempts"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def resend_code(reset_id: str, body: PasswordResetSend, runtime: RuntimeDep) -> ResetCodeSent:
    """Another code by e-mail or SMS (3 a code, 30 s apart, at most 10 codes an hour to one customer)."""
    await password_reset.resend_code(runtime, reset_id, method=body.method)
    return ResetCodeSent(sent=body.method, expires_in=runtime.code_limits.code_ttl_seconds)


@router.post(
    "/v1/auth/password-reset/{reset_id}/verify",
    responses=problem_responses(
        (401, "challenge_failed"),
        (404, "challenge_not_found"),
        (404, "reset_not_found"),
        (410, "challenge_expired"),
        (410, "reset_expired"),
        (423, "account_locked"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def verify_code(
    reset_id: str, body: PasswordResetVerify, runtime: RuntimeDep, identity: IdentityDep
) -> ResetVerified:
    """Prove one factor: `email` with the e-mailed code, `sms` or `totp` for the possession factor. Both are needed
    before `complete`."""
    proven = await password_reset.verify_code(runtime, reset_id, method=body.method, code=body.code, ip=_ip(identity))
    return ResetVerified(verified=proven, ready=len(proven) == 2)


@router.post(
    "/v1/auth/password-reset/{reset_id}/complete",
    responses=problem_responses(
        (404, "reset_not_found"),
        (409, "reset_not_verified"),
        (410, "reset_expired"),
        (422, "password_policy"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def complete_reset(
    reset_id: str, body: PasswordResetComplete, runtime: RuntimeDep, identity: IdentityDep
) -> ResetCompleted:
    """The new password, under the policy of account opening; every session ends and the customer is told."""
    done = await password_reset.complete_reset(runtime, reset_id, new_password=body.new_password, ip=_ip(identity))
    return ResetCompleted(reset=True, sessions_ended=done.sessions_ended)
