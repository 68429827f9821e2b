"""Customer routes of bank links and charges (API.md `POST /v1/bank-links`, `POST /v1/charges`); only the gateway
forwards them, after its policy (KYC-2, the possession step-up of LINK-1 bound to the request's key fields).

A refusal fraud must hear of (errors.Refused) is answered after its event is committed with the request's
transaction: the route returns the problem instead of raising it, so the session commits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from starlette.responses import JSONResponse

from services.txn import bank_links, charges
from services.txn.banks import AccountRef
from services.txn.dependencies import CallerDep, RuntimeDep
from services.txn.errors import Refused
from services.txn.schemas import BankLinkRequest, BankLinkView, ChargeRequest, ChargeView
from shared.dependencies import SessionDep, only_from
from shared.problems import problem_response, problem_responses

router = APIRouter(prefix="/v1", tags=["bank links"], dependencies=[only_from("gateway")])

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
]


def _answer(refused: Refused) -> JSONResponse:
    return problem_response(refused.status, refused.code, refused.detail, **refused.extra)


@router.post(
    "/bank-links",
    status_code=201,
    response_model=BankLinkView,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "kyc_required"),
        (403, "possession_required"),
        (404, "not_found"),
        (409, "already_linked"),
        (409, "bank_suspended"),
        (422, "bank_account_not_found"),
        (422, "holder_mismatch"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def post_bank_link(
    body: BankLinkRequest, caller: CallerDep, session: SessionDep, runtime: RuntimeDep
) -> BankLinkView | JSONResponse:
    """Link a bank account under today's rules (bank_links.py): 201 with the link; 403 `kyc_required` or
    `possession_required`; 409 `already_linked` or `bank_suspended`; 422 `bank_account_not_found` or
    `holder_mismatch` (the account's holder is not the verified customer, KYC-4)."""
    account = AccountRef(body.bank_code, body.branch_code, body.account_number)
    try:
        link = await bank_links.link_account(
            session, runtime, caller=caller, account=account, holder_kana=body.holder_kana
        )
    except Refused as refused:
        return _answer(refused)
    return BankLinkView(
        link_id=link.link_id,
        status=link.status,
        bank_code=link.bank_code,
        bank_name=link.bank_name,
        branch_code=link.branch_code,
        account_last4=link.account_last4,
        rules_version=link.rules_version,
        created_at=link.created_at,
        cool_off_until=link.cool_off_until,
    )


@router.post(
    "/charges",
    status_code=201,
    response_model=ChargeView,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "kyc_required"),
        (404, "not_found"),
        (409, "bank_account_closed"),
        (409, "bank_suspended"),
        (409, "charge_cap_exceeded"),
        (409, "fraud_declined"),
        (409, "insufficient_funds"),
        (409, "link_cooling_off"),
        (409, "link_suspended"),
        (409, "monthly_cap_exceeded"),
        (422, "idempotency_key_reused"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def post_charge(
    body: ChargeRequest,
    caller: CallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> ChargeView | JSONResponse:
    """Charge the wallet from a linked account (charges.py): 201 with the charge; refused with 409 and a `code`
    that says why (`link_cooling_off`, `charge_cap_exceeded`, `monthly_cap_exceeded`, `bank_suspended`,
    `link_suspended`, `fraud_declined`, `insufficient_funds`, `bank_account_closed`); 422 `idempotency_key_reused`.
    The same Idempotency-Key and body again answers the first charge (`Idempotent-Replayed: true`)."""
    try:
        charged = await charges.charge(
            session, runtime, caller=caller, link_id=body.link_id, amount=body.amount, idempotency_key=idempotency_key
        )
    except Refused as refused:
        return _answer(refused)
    view = ChargeView(
        charge_id=charged.charge_id,
        link_id=charged.link_id,
        amount=charged.amount,
        status="completed",
        charged_at=charged.charged_at,
    )
    if charged.replayed:
        return JSONResponse(view.model_dump(mode="json"), status_code=201, headers={"Idempotent-Replayed": "true"})
    return view
