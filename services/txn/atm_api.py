"""Routes of the smartphone-ATM withdrawal (API.md): the customer's request from the app, and the partner ATM
network's session, authorize, complete and reverse. Only the gateway forwards them: it demanded the customer's
step-up, and verified the partner's signature (the partner is the one it names, never one named in a body)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from services.txn import atm_sessions, authorizations, idempotency, settlements, withdrawals
from services.txn.dependencies import CustomerDep, PartnerDep, RuntimeDep
from services.txn.schemas import (
    AtmSessionRequest,
    AtmSessionView,
    AuthorizationDecision,
    AuthorizeRequest,
    SettlementView,
    WithdrawalCreated,
    WithdrawalRequest,
)
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.problems import problem_responses
from shared.statements import Statements

customer_router = APIRouter(tags=["withdrawals"], dependencies=[only_from("gateway")])
partner_router = APIRouter(prefix="/v1/atm", tags=["atm"], dependencies=[only_from("gateway")])

# An authorization's id, or the partner's request_id when it reverses an authorize whose answer it never got.
AuthorizationRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


@customer_router.post(
    "/v1/withdrawals",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (409, "limit_exceeded"),
        (409, "session_expired"),
        (409, "session_used"),
        (422, "qr_invalid"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def request_withdrawal(
    body: WithdrawalRequest, customer_id: CustomerDep, identity: IdentityDep, session: SessionDep, runtime: RuntimeDep
) -> WithdrawalCreated:
    """Cash at the ATM whose QR the app scanned: the one-time code to enter there (AUTH-WD-1: the gateway asked
    for a fresh possession factor bound to this QR and amount). 422 qr_invalid, 409 session_expired / session_used,
    409 limit_exceeded over the most one withdrawal may take."""
    context = identity.context
    requested = await withdrawals.request_withdrawal(
        session,
        runtime,
        customer_id=customer_id,
        qr=body.qr,
        amount=body.amount,
        device_id=_text(context.get("device_id")),
        ip=_text(context.get("client_ip")),
    )
    return WithdrawalCreated(
        withdrawal_id=requested.withdrawal_id,
        one_time_code=requested.one_time_code,
        expires_at=requested.expires_at,
    )


@partner_router.post(
    "/sessions",
    status_code=201,
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def open_session(
    body: AtmSessionRequest, partner: PartnerDep, session: SessionDep, runtime: RuntimeDep
) -> AtmSessionView:
    opened = await atm_sessions.open_session(
        session,
        partner_id=partner.partner_id,
        atm_id=body.atm_id,
        cipher=runtime.cipher,
        now=runtime.clock.now(),
        seconds=runtime.settings.txn_atm_session_seconds,
    )
    return AtmSessionView(session_id=opened.session_id, qr=opened.qr, expires_at=opened.expires_at)


@partner_router.post(
    "/withdrawals/authorize",
    responses={
        200: {"model": AuthorizationDecision},
        **problem_responses(
            (401, "unauthorized"),
            (404, "not_found"),
            (409, "request_in_progress"),
            (422, "idempotency_key_reused"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def authorize(body: AuthorizeRequest, partner: PartnerDep, runtime: RuntimeDep) -> Response:
    """200 approved (the amount is held) or declined with a `reason_code`. The same request_id again answers the
    same, byte for byte, and holds nothing twice; with another payload 422 idempotency_key_reused; while the first
    is still running 409 request_in_progress. 503 when KYC or fraud's score cannot be had: nothing is held."""

    async def decide(statements: Statements) -> idempotency.Answer:
        decision = await authorizations.authorize(
            statements,
            runtime,
            partner_id=partner.partner_id,
            session_id=body.session_id,
            one_time_code=body.one_time_code,
            amount=body.amount,
            request_id=body.request_id,
        )
        return decision.answer()

    answer = await idempotency.run_once(
        runtime.database,
        scope=authorizations.partner_scope(partner.partner_id),
        key=body.request_id,
        # Keyed: the payload holds the customer's one-time code, which a plain hash of six digits would not hide.
        fingerprint=runtime.cipher.blind_index(body.model_dump_json(), context="atm_authorize"),
        clock=runtime.clock,
        lease_seconds=runtime.settings.txn_request_lease_seconds,
        work=decide,
    )
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")


@partner_router.post(
    "/withdrawals/{authorization_id}/complete",
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "not_found"),
        (409, "authorization_completed"),
        (409, "authorization_expired"),
        (409, "authorization_reversed"),
        (409, "no_credit_line"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def complete(
    authorization_id: AuthorizationRef, partner: PartnerDep, session: SessionDep, runtime: RuntimeDep
) -> SettlementView:
    """The cash was dispensed: the withdrawal is final and the customer is told (AUTH-WD-2). Again: the same
    answer. 409 authorization_reversed / authorization_expired; 404 for an authorization of another partner."""
    settled = await settlements.complete(
        session,
        runtime,
        partner_id=partner.partner_id,
        partner_name=partner.partner_name,
        authorization_id=authorization_id,
    )
    return _view(settled)


@partner_router.post(
    "/withdrawals/{authorization_id}/reverse",
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "not_found"),
        (409, "authorization_completed"),
        (409, "authorization_expired"),
        (409, "authorization_reversed"),
        (409, "request_in_progress"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def reverse(
    authorization_id: AuthorizationRef, partner: PartnerDep, session: SessionDep, runtime: RuntimeDep
) -> SettlementView:
    """The cash was not dispensed: the hold is released. `authorization_id` may be the authorize call's request_id
    when its answer never came: the authorization is reversed if it was made, and declined if it arrives later.
    409 authorization_completed; 404 for an authorization of another partner."""
    settled = await settlements.reverse(session, runtime, partner_id=partner.partner_id, reference=authorization_id)
    return _view(settled)


def _view(settled: settlements.Settlement) -> SettlementView:
    return SettlementView(
        authorization_id=settled.authorization_id,
        request_id=settled.request_id,
        status=settled.status.value,
        amount=settled.amount,
        settled_at=settled.settled_at,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
