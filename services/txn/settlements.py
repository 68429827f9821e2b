"""The end of an authorization: complete (the cash was dispensed: the ledger moves and the customer is told,
AUTH-WD-2), reverse (it was not: the hold is released) or expire (neither came in time: the sweeper releases it).

Each end is final and idempotent: the same call again gives the same answer and moves nothing twice; an end that
contradicts the one reached is refused (409). Only the partner that authorized may end an authorization; to any
other it does not exist (404). A partner whose authorize call never answered knows only its request_id: it may
reverse by that, and when the authorization has not arrived yet, a tombstone declines it when it does.

Locks are taken in one order, the authorization's row before the credit line's, and never the withdrawal's after
them (authorize takes the withdrawal's, then the line's): no two of these can wait on each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import credit_information, credit_lines, idempotency, ledger, models
from services.txn.authorizations import Decision, Decline, partner_scope
from services.txn.errors import AuthorizationSettled, NotFound, RequestInProgress
from services.txn.runtime import TxnRuntime
from shared.contracts.identity import CustomerContacts
from shared.contracts.notifications import EventType, WithdrawalCompletedData
from shared.events import record_event
from shared.notifications import send_notification


class Status(StrEnum):
    APPROVED = "approved"  # the hold reserves the amount
    COMPLETED = "completed"  # posted to the ledger; the hold captured
    REVERSED = "reversed"  # the hold released at the partner's word
    EXPIRED = "expired"  # the hold released by the sweeper


@dataclass(frozen=True)
class Settlement:
    authorization_id: str | None  # None: a reversal by request_id that found no authorization
    request_id: str
    status: Status
    amount: int | None = None
    settled_at: datetime | None = None


async def complete(
    session: AsyncSession, runtime: TxnRuntime, *, partner_id: str, partner_name: str, authorization_id: str
) -> Settlement:
    found = await _owned(session, authorization_id, partner_id)
    # Asked before any lock is taken: where the notice goes is auth's to say, and its answer may take a while.
    contacts = await runtime.auth.contacts(found.customer_id) if found.status == Status.APPROVED else None
    row = await _locked(session, authorization_id)
    status = Status(row.status)
    if status is Status.COMPLETED:
        return _settlement(row)
    if status is not Status.APPROVED:
        raise _contradicted(status, "complete")
    now = runtime.clock.now()
    if row.expires_at <= now:  # the sweeper has not come by yet: the hold is gone all the same
        raise _contradicted(Status.EXPIRED, "complete")
    assert contacts is not None  # approved now, so approved when first read: a status never returns to approved
    customer_id, amount = row.customer_id, int(row.amount)
    # The line's lock: an authorization in flight reads outstanding and holds as one, never between the two.
    await credit_lines.lock_line(session, customer_id)
    posted = await ledger.post(
        session,
        kind=ledger.PostingKind.WITHDRAWAL,
        reference=authorization_id,
        customer_id=customer_id,
        amount=amount,
        legs=[
            ledger.Leg(ledger.credit_account(customer_id), amount),
            ledger.Leg(ledger.atm_account(partner_id), -amount),
        ],
        actor=f"partner:{partner_id}",
        at=now,
        memo=f"ATM {partner_name} {row.atm_id}"[:200],
    )
    await _end(session, row, Status.COMPLETED, hold_status="captured", now=now)
    # The loan this leaves is credit information (INC-6 (c)): recorded with the posting, and reported to the bureau.
    record_id = await credit_information.record_debt(session, customer_id, posted.posting_id, amount, now)
    await credit_information.report(session, runtime.bureau, record_id, now)
    await _notify_completed(session, runtime, row, contacts, atm=f"{partner_name} {row.atm_id}", now=now)
    await record_event(
        runtime.outbox,
        session,
        type="withdrawal_completed",
        occurred_at=now,
        customer_id=customer_id,
        data={"amount": amount, "withdrawal_id": row.withdrawal_id, "partner_id": partner_id, "atm_id": row.atm_id},
    )
    return Settlement(authorization_id, row.request_id, Status.COMPLETED, amount, now)


async def reverse(session: AsyncSession, runtime: TxnRuntime, *, partner_id: str, reference: str) -> Settlement:
    """Reverse an authorization named by its id, or by the partner's request_id when the partner never learned the
    id; a request_id not used yet gets a tombstone, so that the authorization arriving late is declined."""
    a = models.atm_authorization
    by_id = (await session.execute(select(a.c.id, a.c.partner_id).where(a.c.id == reference))).first()
    if by_id is not None:
        if by_id.partner_id != partner_id:
            raise NotFound("No such authorization.")
        return await _reverse(session, runtime, by_id.id)
    scope, now = partner_scope(partner_id), runtime.clock.now()
    record = await idempotency.find(session, scope=scope, key=reference)
    if record is None:
        tombstone = Decision(reason=Decline.REVERSED).answer()
        record = await idempotency.leave_tombstone(session, scope=scope, key=reference, answer=tombstone, now=now)
        if record is None:
            return Settlement(None, reference, Status.REVERSED)
    if record.state is idempotency.State.IN_PROGRESS:
        raise RequestInProgress("The authorization with this request_id is still being processed: retry in a moment.")
    # Its answer is stored, and with it any authorization it made (one transaction): read after the key, found now.
    made = await session.scalar(select(a.c.id).where(a.c.partner_id == partner_id, a.c.request_id == reference))
    if made is not None:
        return await _reverse(session, runtime, str(made))
    return Settlement(None, reference, Status.REVERSED)  # declined, or a tombstone already: nothing was held


async def expire_due(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Release the holds of authorizations neither completed nor reversed in time; how many. Rows another
    transaction is ending are skipped (PostgreSQL), not waited for."""
    a = models.atm_authorization
    due = (
        select(a)
        .where(a.c.status == Status.APPROVED.value, a.c.expires_at <= now)
        .order_by(a.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(due)).all()
    for row in rows:
        await _end(session, row, Status.EXPIRED, hold_status="expired", now=now)
    return len(rows)


async def _reverse(session: AsyncSession, runtime: TxnRuntime, authorization_id: str) -> Settlement:
    row = await _locked(session, authorization_id)
    status = Status(row.status)
    if status is Status.COMPLETED:
        raise _contradicted(status, "reverse")
    if status is not Status.APPROVED:
        return _settlement(row)  # reversed already, or expired: the hold is released either way
    now = runtime.clock.now()
    await _end(session, row, Status.REVERSED, hold_status="released", now=now)
    await record_event(
        runtime.outbox,
        session,
        type="withdrawal_reversed",
        occurred_at=now,
        customer_id=row.customer_id,
        data={"amount": int(row.amount), "withdrawal_id": row.withdrawal_id, "partner_id": row.partner_id},
    )
    return Settlement(authorization_id, row.request_id, Status.REVERSED, int(row.amount), now)


async def _owned(session: AsyncSession, authorization_id: str, partner_id: str) -> Any:
    a = models.atm_authorization
    row = (await session.execute(select(a).where(a.c.id == authorization_id))).first()
    if row is None or row.partner_id != partner_id:
        raise NotFound("No such authorization.")
    return row


async def _locked(session: AsyncSession, authorization_id: str) -> Any:
    a = models.atm_authorization
    return (await session.execute(select(a).where(a.c.id == authorization_id).with_for_update())).one()


async def _end(session: AsyncSession, row: Any, status: Status, *, hold_status: str, now: datetime) -> None:
    a, h = models.atm_authorization, models.hold
    await session.execute(a.update().where(a.c.id == row.id).values(status=status.value, settled_at=now))
    await session.execute(
        h.update().where(h.c.reference == row.id, h.c.status == "active").values(status=hold_status, settled_at=now)
    )


def _settlement(row: Any) -> Settlement:
    return Settlement(row.id, row.request_id, Status(row.status), int(row.amount), row.settled_at)


def _contradicted(status: Status, asked: str) -> AuthorizationSettled:
    return AuthorizationSettled(
        f"This authorization is {status.value}: it cannot {asked}.", code=f"authorization_{status.value}"
    )


async def _notify_completed(
    session: AsyncSession, runtime: TxnRuntime, row: Any, contacts: CustomerContacts, *, atm: str, now: datetime
) -> None:
    """AUTH-WD-2: the customer hears of every completed withdrawal, at the contacts registered now."""
    if contacts.email is None and contacts.phone is None:
        return  # nowhere to tell (account opening requires a phone: not today)
    await send_notification(
        runtime.outbox,
        session,
        key=f"withdrawal_completed:{row.id}",
        event_type=EventType.WITHDRAWAL_COMPLETED,
        data=WithdrawalCompletedData.model_construct(
            at=now, amount=int(row.amount), atm=atm[:100], withdrawal_id=row.withdrawal_id
        ),
        customer_id=row.customer_id,
        language=contacts.language,
        email=contacts.email,
        phone=contacts.phone,
    )
