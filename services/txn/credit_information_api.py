"""Routes of the credit information txn reports to the credit bureau (INC-6 (c)): staff read a customer's records,
with what the bureau acknowledged, and a supervisor sends again the deletions a relief flagged that the bureau did
not acknowledge. Every read and action is audited (SEC-6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import credit_information, disputes
from services.txn.dependencies import AnalystDep, RuntimeDep, SupervisorDep
from services.txn.runtime import TxnRuntime
from services.txn.schemas import CreditInformationRecordView, CreditInformationView
from shared.audit import Actor, audit_entry, record_audit
from shared.dependencies import SessionDep, only_from
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[only_from("gateway")])


@router.get(
    "/credit-information",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def view_credit_information(
    customer_id: Annotated[str, Query(max_length=40, pattern=r"^[a-z]{2,8}_[0-9a-z]{26}$")],
    actor: AnalystDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> CreditInformationView:
    """What txn reported to the credit bureau about the customer (`reported_at`: when the bureau acknowledged it),
    and which records a relief had deleted (`deleted`) or still asks to delete (`deletion_requested`)."""
    await _audit(
        session, runtime, actor, "credit_information.view", "customer", customer_id, {"customer_id": customer_id}
    )
    return await _credit_information(session, customer_id)


@router.post(
    "/disputes/{dispute_id}/credit-information-deletion",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def resend_deletions(
    dispute_id: str, actor: SupervisorDep, session: SessionDep, runtime: RuntimeDep
) -> CreditInformationView:
    """Send the bureau again the deletions of a relieved dispute it has not acknowledged (it was down): the
    records stay `deletion_requested` until it does (INC-6 (c))."""
    dispute = await disputes.load(session, dispute_id)
    deleted = await credit_information.send_deletions(session, runtime.bureau, dispute.id, runtime.clock.now())
    detail = {"customer_id": dispute.customer_id, "deleted": deleted}
    await _audit(session, runtime, actor, "credit_information.deletion_resend", "dispute", dispute.id, detail)
    return await _credit_information(session, dispute.customer_id)


async def _credit_information(session: AsyncSession, customer_id: str) -> CreditInformationView:
    rows = await credit_information.records_of(session, customer_id)
    return CreditInformationView(
        customer_id=customer_id,
        records=[
            CreditInformationRecordView(
                record_id=r.id,
                kind=r.kind,
                transaction_id=r.posting_id,
                amount=r.amount,
                status=r.status,
                recorded_at=r.recorded_at,
                reported_at=r.reported_at,
                deletion_dispute_id=r.deletion_dispute_id,
                deletion_requested_by=r.deletion_requested_by,
                deletion_requested_at=r.deletion_requested_at,
                deleted_at=r.deleted_at,
            )
            for r in rows
        ],
    )


async def _audit(
    session: AsyncSession,
    runtime: TxnRuntime,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any],
) -> None:
    at = runtime.clock.now()
    entry = audit_entry(
        actor, service="txn", action=action, target_type=target_type, target_id=target_id, at=at, detail=detail
    )
    await record_audit(runtime.outbox, session, entry)
