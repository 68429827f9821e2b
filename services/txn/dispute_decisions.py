"""What follows each step of a dispute, in the transaction of the step: the transition, the relief the policy gives,
the fraud event and the notice to the customer (INC-6, INC-7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import credit_information, disputes, models, relief
from services.txn.disputes import Channel, Disputed, Status, move
from services.txn.runtime import TxnRuntime
from shared.contracts.identity import CustomerContacts
from shared.contracts.notifications import DisputeOpenedData, DisputeResolvedData, EventType, NotificationData
from shared.events import record_event
from shared.notifications import send_notification

DECLARED = "the victim declared they will not bear the debt"


async def open_dispute(
    session: AsyncSession,
    runtime: TxnRuntime,
    *,
    customer_id: str,
    postings: list[Disputed],
    description: str,
    declares_not_liable: bool,
    channel: Channel,
    actor: str,
    note: str | None,
    contacts: CustomerContacts,
) -> str:
    """Open the dispute (and record the declaration made with it); fraud hears of it, and the customer is told, so
    that a report made in their name by someone else does not go unseen."""
    now = runtime.clock.now()
    dispute_id = await disputes.open_dispute(
        session,
        customer_id=customer_id,
        postings=postings,
        description=description,
        channel=channel,
        opened_by=actor,
        cipher=runtime.cipher,
        now=now,
    )
    if declares_not_liable:
        await declare(session, runtime, dispute_id, Status.OPEN, actor=actor, note=note)
    amount = sum(p.amount for p in postings)
    await record_event(
        runtime.outbox,
        session,
        type="dispute_opened",
        occurred_at=now,
        customer_id=customer_id,
        data={
            "dispute_id": dispute_id,
            "transaction_ids": [p.posting_id for p in postings],
            "amount": amount,
            "channel": channel.value,
            "declared_not_liable": declares_not_liable,
        },
        event_id=f"evt_dspo_{dispute_id.partition('_')[2]}",
    )
    data = DisputeOpenedData.model_construct(
        at=now,
        dispute_id=dispute_id,
        transactions=len(postings),
        amount=amount,
        channel=channel.value,
        declared_not_liable=declares_not_liable,
        target_days=runtime.relief_policy.target_days,
    )
    await _notify(session, runtime, dispute_id, customer_id, contacts, EventType.DISPUTE_OPENED, data)
    return dispute_id


async def declare(
    session: AsyncSession, runtime: TxnRuntime, dispute_id: str, status: Status, *, actor: str, note: str | None
) -> datetime:
    """The victim's declaration that they will not bear the debt (INC-7): the policy's clock starts now."""
    now = runtime.clock.now()
    reason = f"{DECLARED}: {note}" if note else DECLARED
    await disputes.apply(
        session,
        dispute_id,
        move(status, Status.UNDER_REVIEW, actor=actor, at=now, reason=reason[:500]),
        declared_at=now,
        declared_by=actor,
        relief_due_at=runtime.relief_policy.due_at(now),
    )
    return now


@dataclass(frozen=True)
class ReliefOutcome:
    amount: int
    relieved: list[relief.Relieved]
    credit_information_deleted: list[str]  # the records flagged for deletion


async def relieve(
    session: AsyncSession,
    runtime: TxnRuntime,
    dispute: Any,
    *,
    actor: str,
    note: str | None,
    contacts: CustomerContacts,
) -> ReliefOutcome:
    """Apply the relief policy to every transaction of the dispute, close it `relieved`, and tell the customer."""
    now = runtime.clock.now()
    policy = runtime.relief_policy
    transition = move(Status(dispute.status), Status.RELIEVED, actor=actor, at=now, reason=note)
    # The line's row first, as every draw takes it (credit_lines.lock_line): relief reads what is owed and credits
    # it back, and a repayment or a draw between the two would make it credit the wrong amount.
    c = models.credit_line
    await session.execute(select(c.c.customer_id).where(c.c.customer_id == dispute.customer_id).with_for_update())
    rows = await disputes.transactions_of(session, dispute.id)
    posting_ids = [row.posting_id for row in rows]
    relieved = await relief.relieve_postings(
        session, dispute_id=dispute.id, customer_id=dispute.customer_id, posting_ids=posting_ids, actor=actor, at=now
    )
    for done in relieved:
        await disputes.record_relief(session, dispute.id, done.posting_id, done.relief_posting_id, done.amount)
    amount = sum(done.amount for done in relieved)
    await disputes.apply(
        session,
        dispute.id,
        transition,
        policy_version=policy.version,
        relieved_amount=amount,
        decided_by=actor,
        decision_reason=note,
        decided_at=now,
    )
    deleted = await deletion_requested(session, dispute.id)
    # Sent now, in the request: a bureau that does not answer leaves them `deletion_requested` for a resend.
    await credit_information.send_deletions(session, runtime.bureau, dispute.id, now)
    await record_event(
        runtime.outbox,
        session,
        type="relief_applied",
        occurred_at=now,
        customer_id=dispute.customer_id,
        data={
            "dispute_id": dispute.id,
            "amount": amount,
            "transaction_ids": posting_ids,
            "policy_version": policy.version,
            "decided_by": actor,
        },
        event_id=f"evt_rlf_{dispute.id.partition('_')[2]}",
    )
    data = DisputeResolvedData.model_construct(
        at=now,
        dispute_id=dispute.id,
        outcome="relieved",
        amount=amount,
        reason=None,
        credit_information_deletion=bool(deleted),
    )
    await _notify(session, runtime, dispute.id, dispute.customer_id, contacts, EventType.DISPUTE_RESOLVED, data)
    return ReliefOutcome(amount, relieved, deleted)


async def reject(
    session: AsyncSession, runtime: TxnRuntime, dispute: Any, *, actor: str, reason: str, contacts: CustomerContacts
) -> None:
    """Close the dispute `rejected` with the reason the customer is told; its transactions may be disputed again."""
    now = runtime.clock.now()
    await disputes.apply(
        session,
        dispute.id,
        move(Status(dispute.status), Status.REJECTED, actor=actor, at=now, reason=reason),
        policy_version=runtime.relief_policy.version,
        decided_by=actor,
        decision_reason=reason,
        decided_at=now,
    )
    await record_event(
        runtime.outbox,
        session,
        type="dispute_rejected",
        occurred_at=now,
        customer_id=dispute.customer_id,
        outcome="refused",
        data={"dispute_id": dispute.id, "decided_by": actor},
        event_id=f"evt_dspr_{dispute.id.partition('_')[2]}",
    )
    data = DisputeResolvedData.model_construct(
        at=now,
        dispute_id=dispute.id,
        outcome="rejected",
        amount=0,
        reason=reason,
        credit_information_deletion=False,
    )
    await _notify(session, runtime, dispute.id, dispute.customer_id, contacts, EventType.DISPUTE_RESOLVED, data)


async def deletion_requested(session: AsyncSession, dispute_id: str) -> list[str]:
    """The credit-information records this dispute's relief flagged for deletion."""
    r = models.credit_information_record
    rows = await session.execute(select(r.c.id).where(r.c.deletion_dispute_id == dispute_id).order_by(r.c.id))
    return [str(row.id) for row in rows]


async def _notify(
    session: AsyncSession,
    runtime: TxnRuntime,
    dispute_id: str,
    customer_id: str,
    contacts: CustomerContacts,
    event_type: EventType,
    data: NotificationData,
) -> None:
    if contacts.email is None and contacts.phone is None:
        return  # auth has no contact to tell (none today: account opening requires a phone)
    await send_notification(
        runtime.outbox,
        session,
        key=f"{event_type.value}:{dispute_id}",
        event_type=event_type,
        data=data,
        customer_id=customer_id,
        language=contacts.language,
        email=contacts.email,
        phone=contacts.phone,
    )
