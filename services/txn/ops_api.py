"""Staff routes of txn (API.md "Ops API"): a customer's credit line. Every change is in the audit trail (SEC-6)."""

from __future__ import annotations

from fastapi import APIRouter

from services.txn import credit_lines
from services.txn.dependencies import RuntimeDep, SupervisorDep
from services.txn.schemas import CreditLineRequest, CreditLineView
from shared.audit import audit_entry, record_audit
from shared.dependencies import SessionDep, only_from

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[only_from("gateway")])


@router.put("/customers/{customer_id}/credit-line")
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
