"""What follows a decision on a case, in the transaction of the decision: the transition, the verified identity and
the KYC status for auth (approval), the fraud event, and the notice to the customer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import verifications
from services.kyc.cases import SYSTEM, Status, move
from services.kyc.identity_match import changed_since
from services.kyc.runtime import KycRuntime
from shared.contracts.identity import CustomerContacts
from shared.contracts.notifications import EventType, KycApprovedData, KycRejectedData, NotificationData
from shared.events import record_event
from shared.notifications import send_notification


async def approve(
    session: AsyncSession,
    runtime: KycRuntime,
    case: Any,
    *,
    actor: str,
    reason: str | None,
    contacts: CustomerContacts,
) -> Status:
    """Approve the case, or reject it when the customer's declared identity changed since it was opened (the
    status it ends in). The proof was checked against the case's snapshot: approving it after an address change
    would vouch for an address the customer no longer declares (and auth's re-verification would be undone by the
    old proof). Rejected rather than sent back to review: the letter went to the old address and the documents or
    certificate show the old one, so no reviewer can approve it; the customer starts a new case against the new one."""
    now = runtime.clock.now()
    snapshot = verifications.declared_of(case, runtime.cipher)
    changed = changed_since(snapshot, await runtime.auth.declared_identity(case.customer_id))
    if changed:
        reason = "the declared identity changed during the verification (" + ", ".join(changed) + "); start again"
        await reject(session, runtime, case, actor=SYSTEM, reason=reason, contacts=contacts)
        return Status.REJECTED
    await verifications.apply(
        session, case.id, move(Status(case.status), Status.APPROVED, actor=actor, at=now, reason=reason)
    )
    proven = await verifications.identity_to_record(session, case, runtime.cipher)
    await verifications.record_verified_identity(session, case, proven, cipher=runtime.cipher, now=now)
    await runtime.status_sync.queue(
        session,
        customer_id=case.customer_id,
        verification_id=case.id,
        status="verified",
        method=case.method,
        verified_at=now,
        reason=reason,
    )
    await record_event(
        runtime.outbox,
        session,
        type="kyc_approved",
        occurred_at=now,
        customer_id=case.customer_id,
        data={"verification_id": case.id, "method": case.method, "decided_by": actor},
        event_id=f"evt_kyca_{case.id.partition('_')[2]}",
    )
    await _notify(
        session,
        runtime,
        case,
        contacts,
        EventType.KYC_APPROVED,
        KycApprovedData.model_construct(at=now, method=case.method),
    )
    return Status.APPROVED


async def reject(
    session: AsyncSession,
    runtime: KycRuntime,
    case: Any,
    *,
    actor: str,
    reason: str,
    contacts: CustomerContacts,
) -> None:
    """A rejected case closes; the customer may start again. auth's status does not change (it was not verified by
    this case), so nothing is queued for it."""
    now = runtime.clock.now()
    await verifications.apply(
        session, case.id, move(Status(case.status), Status.REJECTED, actor=actor, at=now, reason=reason)
    )
    await record_event(
        runtime.outbox,
        session,
        type="kyc_rejected",
        occurred_at=now,
        customer_id=case.customer_id,
        outcome="refused",
        data={"verification_id": case.id, "method": case.method, "decided_by": actor, "reason": reason},
        event_id=f"evt_kycr_{case.id.partition('_')[2]}",
    )
    await _notify(
        session,
        runtime,
        case,
        contacts,
        EventType.KYC_REJECTED,
        KycRejectedData.model_construct(at=now, method=case.method, reason=reason),
    )


async def _notify(
    session: AsyncSession,
    runtime: KycRuntime,
    case: Any,
    contacts: CustomerContacts,
    event_type: EventType,
    data: NotificationData,
) -> None:
    if contacts.email is None and contacts.phone is None:
        return  # auth has no contact to tell (none today: account opening requires a phone)
    await send_notification(
        runtime.outbox,
        session,
        key=f"{event_type.value}:{case.id}",
        event_type=event_type,
        data=data,
        customer_id=case.customer_id,
        language=contacts.language,
        email=contacts.email,
        phone=contacts.phone,
    )
