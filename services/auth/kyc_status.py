"""The customer's KYC status, kept by auth because auth answers the gateway's session check (KYC-2).

The kyc service proves identities and tells auth the outcome (`PUT /internal/customers/{id}/kyc`,
shared/contracts/identity.py). A proof is applied once: the same verification id again changes nothing, even after
the status moved on (a redelivered approval of the old address must not undo a re-verification). `verified` lifts
every lock of the customer, hard locks included, on both sides: the guideline stops an account "until identity is
re-verified" (JFSA 2(2) ③), and this is that re-verification. A change of a verified attribute (today only the
address can change) sends the customer back to re-verification, in the transaction of the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import lockout, models
from shared.contracts.identity import KycStatus, KycStatusUpdate
from shared.database import insert_new
from shared.events import record_event
from shared.outbox import Outbox
from shared.problems import Problem

# The attributes a proof of identity vouches for: a change of any of them after verification needs a new proof.
VERIFIED_ATTRIBUTES = ("name", "name_kana", "birth_date", "address")
EVENT_TYPE = "kyc_status_changed"


class CustomerNotFound(Problem):
    status = 404
    code = "customer_not_found"


async def apply_update(
    session: AsyncSession, outbox: Outbox, customer_id: str, update: KycStatusUpdate, *, now: datetime
) -> KycStatus:
    """Apply kyc's outcome for the customer (once per verification id); the status as it then stands."""
    if len(update.verification_id) > 40 or not update.verification_id:
        raise Problem("The verification id must be 1 to 40 characters.", code="validation_failed", status=422)
    c = models.customer
    row = (
        await session.execute(
            select(c.c.id, c.c.kyc_status, c.c.kyc_verified_at)
            .where(c.c.id == customer_id)
            .with_for_update()  # concurrent deliveries of one outcome apply it once
        )
    ).first()
    if row is None:
        raise CustomerNotFound("No such customer.")
    received = {"id": update.verification_id, "customer_id": customer_id, "status": update.status,
                "method": update.method, "received_at": now}  # fmt: skip
    if not await insert_new(session, models.kyc_outcome, [received]):
        return KycStatus(customer_id=customer_id, status=row.kyc_status, verified_at=row.kyc_verified_at)
    values: dict[str, Any] = {
        "kyc_status": update.status,
        "kyc_verification_id": update.verification_id,
        "kyc_changed_at": now,
        "updated_at": now,
    }
    verified_at = row.kyc_verified_at
    lifted = False
    if update.status == "verified":
        verified_at = update.verified_at or now
        values.update(kyc_method=update.method, kyc_verified_at=verified_at)
        guard = await lockout.load_guard(session, customer_id)
        lifted = guard is not None and (guard.hard_locked_at is not None or guard.stranger_hard_locked_at is not None)
        await lockout.unlock(session, customer_id, now=now)
    await session.execute(c.update().where(c.c.id == customer_id).values(**values))
    await record_event(
        outbox,
        session,
        type=EVENT_TYPE,
        occurred_at=now,
        customer_id=customer_id,
        data={
            "status": update.status,
            "previous": row.kyc_status,
            "method": update.method,
            "verification_id": update.verification_id,
            "reason": update.reason,
            "hard_lock_lifted": lifted,
        },
    )
    return KycStatus(customer_id=customer_id, status=update.status, verified_at=verified_at, hard_lock_lifted=lifted)


async def require_reverification(
    session: AsyncSession,
    outbox: Outbox,
    customer_id: str,
    changed: list[str],
    *,
    now: datetime,
    device_id: str | None,
) -> bool:
    """After a change of `changed` attributes: a verified customer must prove the identity again. Call it in the
    transaction of the change, after the change's own update (which holds the row): an approval that commits first
    is still caught. Whether the status changed."""
    attributes = sorted(set(changed) & set(VERIFIED_ATTRIBUTES))
    if not attributes:
        return False
    c = models.customer
    result = await session.execute(
        c.update()
        .where(c.c.id == customer_id, c.c.kyc_status == "verified")
        .values(kyc_status="reverification_required", kyc_changed_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await record_event(
        outbox,
        session,
        type=EVENT_TYPE,
        occurred_at=now,
        customer_id=customer_id,
        device_id=device_id,
        data={"status": "reverification_required", "previous": "verified", "reason": "attribute_changed",
              "attributes": attributes},
    )  # fmt: skip
    return True
