"""Staff routes of txn (API.md "Ops API"): a customer's credit line, and banks whose links and charges are suspended
(LINK-4). Every change is in the audit trail (SEC-6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.txn import bank_suspensions, credit_lines
from services.txn.bank_suspensions import BankSuspension
from services.txn.banks import BANK_CODE
from services.txn.dependencies import AnalystDep, RuntimeDep, SupervisorDep
from services.txn.schemas import (
    BankSuspensionList,
    BankSuspensionRequest,
    BankSuspensionView,
    CreditLineRequest,
    CreditLineView,
)
from shared.audit import audit_entry, record_audit
from shared.dependencies import SessionDep, only_from
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[only_from("gateway")])


@router.put(
    "/customers/{customer_id}/credit-line",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def put_credit_line(
    customer_id: str, body: CreditLineRequest, actor: SupervisorDep, session: SessionDep, runtime: RuntimeDep
) -> CreditLineView:
    """Set the line's limit. Lowering it below what is drawn stops new draws; what is owed stays owed."""
    await runtime.auth.kyc_status(customer_id)  # 404 for a customer auth does not know
    now = runtime.clock.now()
    line, previous = await credit_lines.set_limit(
        session, customer_id=customer_id, limit=body.limit, staff_id=actor.staff_id, reason=body.reason, at=now
    )
    entry = audit_entry(
        actor,
        service="txn",
        action="credit_line.set",
        target_type="customer",
        target_id=customer_id,
        at=now,
        detail={"customer_id": customer_id, "limit": body.limit, "previous_limit": previous, "reason": body.reason},
    )
    await record_audit(runtime.outbox, session, entry)
    s = await credit_lines.summary(session, customer_id)
    return CreditLineView(
        customer_id=customer_id,
        limit=line.limit,
        previous_limit=previous,
        version=line.version,
        outstanding=s.outstanding,
        held=s.held,
        available=s.available,
    )


@router.put(
    "/banks/{bank_code}/suspension",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def put_bank_suspension(
    bank_code: Annotated[str, Path(pattern=BANK_CODE)],
    body: BankSuspensionRequest,
    actor: SupervisorDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> BankSuspensionView:
    """Suspend a bank's links and charges (`suspended: true`), or lift it. While suspended, a new link to the bank
    is refused and so is every charge from its accounts (409 `bank_suspended`); the links stay as they are."""
    now = runtime.clock.now()
    state, was = await bank_suspensions.set_suspension(
        session, bank_code=bank_code, suspended=body.suspended, reason=body.reason, staff_id=actor.staff_id, at=now
    )
    entry = audit_entry(
        actor,
        service="txn",
        action="bank.suspension_set",
        target_type="bank",
        target_id=bank_code,
        at=now,
        detail={"bank_code": bank_code, "suspended": body.suspended, "was_suspended": was, "reason": body.reason},
    )
    await record_audit(runtime.outbox, session, entry)
    return _suspension_view(state)


@router.get(
    "/banks/suspensions",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_bank_suspensions(actor: AnalystDep, session: SessionDep) -> BankSuspensionList:
    """Every bank staff suspended at some time, and whether it is suspended now."""
    return BankSuspensionList(
        suspensions=[_suspension_view(s) for s in await bank_suspensions.list_suspensions(session)]
    )


def _suspension_view(state: BankSuspension) -> BankSuspensionView:
    return BankSuspensionView(
        bank_code=state.bank_code,
        suspended=state.suspended,
        reason=state.reason,
        updated_at=state.updated_at,
        updated_by=state.updated_by,
    )
