"""Routes of the auth service: the customer login routes of API.md, reached through the gateway."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Header
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from services.auth import accounts, challenges, decoys, login, models, password_reset, sessions, step_up, verification
from services.auth.errors import ChallengeNotFound
from services.auth.runtime import AuthRuntime, RuntimeDep
from services.auth.schemas import (
    AccountApplication,
    AccountOpened,
    CodeSent,
    LoginRequest,
    RefreshRequest,
    SendCodeRequest,
    StepUpGranted,
    Tokens,
    VerifyRequest,
)
from shared.contracts.notifications import CodeOperation, EventType, OneTimeCodeData
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.notifications import send_notification
from shared.problems import problem_response, problem_responses

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["auth"], dependencies=[only_from("gateway")])


def _tokens(issued: sessions.IssuedTokens) -> Tokens:
    return Tokens(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        session_id=issued.session_id,
        acr=issued.acr,
    )


def _challenge_body(runtime: AuthRuntime, challenge_id: str, methods: list[str], language: str) -> dict[str, Any]:
    return {
        "id": challenge_id,
        "methods": methods,
        "caution": runtime.caution(language),
        "expires_in": runtime.settings.challenge_ttl_seconds,
        "operation": "login",
    }


@router.post(
    "/v1/accounts",
    status_code=201,
    responses=problem_responses((422, "password_policy"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def open_account(
    body: AccountApplication, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> AccountOpened:
    """Apply for an account; the password must meet the policy (422 `password_policy` lists every violation).

    An address already registered gets the same answer with an id that leads nowhere (API.md: no enumeration),
    and its owner is told."""
    customer_id, _created = await accounts.open_account(
        session,
        body,
        policy=runtime.policy,
        hasher=runtime.hasher,
        cipher=runtime.cipher,
        clock=runtime.clock,
        outbox=runtime.outbox,
        ip=str(identity.context.get("client_ip", "unknown")),
        decoy_ttl=runtime.unknown_retention,
    )
    return AccountOpened(customer_id=customer_id, kyc_status="unverified")


@router.post(
    "/v1/auth/login",
    responses={
        200: {"model": Tokens},
        **problem_responses(
            (401, "invalid_credentials"),
            (401, "mfa_required"),
            (403, "device_blocked"),
            (403, "password_reset_required"),
            (423, "account_locked"),
            (429, "too_many_attempts"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def post_login(
    body: LoginRequest,
    identity: IdentityDep,
    runtime: RuntimeDep,
    user_agent: Annotated[str, Header()] = "",
) -> Response:
    ip = str(identity.context.get("client_ip", "unknown"))
    outcome, language = await login.login(
        body,
        ip=ip,
        user_agent=user_agent,
        deps=runtime.login_deps(),
        signer=runtime.signer,
        token_policy=runtime.token_policy,
        notify_every_login=runtime.settings.notify_every_login,
    )
    if isinstance(outcome, login.LoginDone):
        return JSONResponse(_tokens(outcome.tokens).model_dump())
    return problem_response(
        401,
        "mfa_required",
        "A second factor is needed to log in on this device.",
        challenge=_challenge_body(runtime, outcome.challenge_id, outcome.methods, language),
    )


@router.post(
    "/v1/auth/challenges/{challenge_id}/send",
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
async def send_code(challenge_id: str, body: SendCodeRequest, session: SessionDep, runtime: RuntimeDep) -> CodeSent:
    """Send a one-time code (6 digits, 60 s) to the customer's registered phone or email."""
    now = runtime.clock.now()
    found = await challenges.load_live(session, challenge_id, now=now)
    if found.purpose == verification.STAFF_PURPOSE or found.purpose in password_reset.PURPOSES:
        # Staff use TOTP, at their own route; a password reset's codes are sent at its own routes.
        raise ChallengeNotFound("No such challenge.")
    issued = await challenges.issue_code(
        session, challenge_id, method=body.method, now=now, limits=runtime.code_limits, cipher=runtime.cipher
    )
    if found.purpose == decoys.PURPOSE:
        # As for a new account, in the application's language; the code goes to nobody (decoys.py).
        language = await decoys.language_of(session, issued.customer_id)
        return CodeSent(sent=body.method, expires_in=issued.expires_in, caution=runtime.caution(language))
    customer = (await session.execute(select(models.customer).where(models.customer.c.id == issued.customer_id))).one()
    contact = accounts.contact_of(customer, runtime.cipher)
    # The operation as the challenge stored it: checked against the contract by send_notification (a str here).
    data = OneTimeCodeData.model_construct(
        code=issued.code,
        expires_in=issued.expires_in,
        operation=cast(CodeOperation, issued.operation),
        amount=issued.summary.get("amount") or None,
    )
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:code:{challenge_id}:{issued.send_number}",
        event_type=EventType.ONE_TIME_CODE,
        customer_id=customer.id,
        language=contact.language,
        email=contact.email if body.method == "email" else None,
        phone=contact.phone if body.method == "sms" else None,
        channel=body.method,
        data=data,
    )
    return CodeSent(sent=body.method, expires_in=issued.expires_in, caution=runtime.caution(contact.language))


@router.post(
    "/v1/auth/challenges/{challenge_id}/verify",
    responses={
        200: {"model": Tokens | StepUpGranted},
        **problem_responses(
            (401, "challenge_failed"),
            (401, "passkey_invalid"),
            (404, "challenge_not_found"),
            (410, "challenge_expired"),
            (423, "account_locked"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def verify(challenge_id: str, body: VerifyRequest, runtime: RuntimeDep, identity: IdentityDep) -> JSONResponse:
    """Prove the factor: a login challenge answers with tokens, a step-up challenge with a single-use grant.

    Staff sign-in challenges are not answered here (404): only at `POST /v1/ops/auth/challenges/{id}/verify`."""
    verified = await verification.verify_answer(
        runtime,
        challenge_id,
        method=body.method,
        code=body.code,
        credential=body.credential,
        ip=str(identity.context.get("client_ip", "unknown")),
        staff_route=False,
    )
    if verified.grant is not None:
        return JSONResponse(StepUpGranted(grant=verified.grant, expires_in=step_up.GRANT_TTL_SECONDS).model_dump())
    assert verified.tokens is not None
    return JSONResponse(_tokens(verified.tokens).model_dump())


@router.post(
    "/v1/auth/refresh",
    responses={
        200: {"model": Tokens},
        **problem_responses((401, "session_expired"), (401, "token_invalid"), (401, "token_reused")),
    },
)
async def refresh(body: RefreshRequest, runtime: RuntimeDep) -> JSONResponse:
    """Rotate the refresh token; a token used twice ends the whole session (theft)."""
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        outcome = await sessions.rotate(
            session, body.refresh_token, now=now, signer=runtime.signer, policy=runtime.token_policy
        )
    if isinstance(outcome, sessions.Ended):
        raise sessions.refused(outcome)  # after the commit: the session stays ended
    return JSONResponse(_tokens(outcome).model_dump())


@router.post("/v1/auth/logout", status_code=204)
async def logout(body: RefreshRequest, session: SessionDep, runtime: RuntimeDep) -> Response:
    session_id = await sessions.session_of_refresh(session, body.refresh_token)
    if session_id is not None:
        await sessions.revoke(session, session_id, now=runtime.clock.now(), reason="logout")
    return Response(status_code=204)
