"""Disputes: a customer's report that transactions were not theirs, its state machine, and its rows.

    open ──► under_review ──► relieved
      │            └────────► rejected
      └─────────────────────► rejected

`open`: reported (in the app, or by staff for a caller at the consultation desk, INC-6 (a)). `under_review`: the
victim declared they will not bear the debt (INC-7); the policy's clock runs from that declaration. `relieved` and
`rejected` are decisions and final. Every move is a row of `dispute_transition` (who, why, when), never updated.

A transaction is in at most one dispute that is not rejected (`dispute_transaction.claim` is unique): a relieved
transaction cannot be disputed again, and a rejected dispute frees its transactions for a new one with new facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.errors import (
    AlreadyDeclared,
    AlreadyDisputed,
    DeclarationRequired,
    IllegalTransition,
    NotDisputable,
    NotFound,
)
from services.txn.relief import ReliefPolicy
from shared.crypto import FieldCipher
from shared.database import owned_row
from shared.ids import new_id
from shared.problems import Problem

DESCRIPTION_CONTEXT = "dispute.description"
CUSTOMER = "customer"


class Status(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    RELIEVED = "relieved"
    REJECTED = "rejected"


class Channel(StrEnum):
    APP = "app"  # the customer, signed in
    DESK = "desk"  # staff, for a victim who called or came in (the emergency contact route)


_NEXT: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.UNDER_REVIEW, Status.REJECTED}),
    Status.UNDER_REVIEW: frozenset({Status.RELIEVED, Status.REJECTED}),
    Status.RELIEVED: frozenset(),
    Status.REJECTED: frozenset(),
}
DECIDED = frozenset({Status.RELIEVED, Status.REJECTED})


@dataclass(frozen=True)
class Transition:
    from_status: Status | None  # None: opened
    to_status: Status
    actor: str  # CUSTOMER, "system" or a staff id
    reason: str | None
    at: datetime


def move(current: Status, target: Status, *, actor: str, at: datetime, reason: str | None = None) -> Transition:
    """The transition, or the error that says why it cannot be made. A rejection needs a reason: the victim is told
    why they are not relieved (guideline 3(3): explain it so they understand)."""
    if target is Status.RELIEVED and current is Status.OPEN:
        raise DeclarationRequired("Relief follows the victim's declaration that they will not bear the debt.")
    if target is Status.UNDER_REVIEW and current is not Status.OPEN:
        raise AlreadyDeclared("The victim's declaration is already recorded.", status_now=current.value)
    if target not in _NEXT[current]:
        raise IllegalTransition(f"A {current.value} dispute cannot become {target.value}.", status_now=current.value)
    if target is Status.REJECTED and not (reason and reason.strip()):
        raise Problem("A rejection needs a reason the customer is told.", code="reason_required", status=422)
    return Transition(current, target, actor, reason, at)


@dataclass(frozen=True)
class Disputed:
    posting_id: str
    kind: str
    amount: int
    at: datetime


async def disputable_postings(
    session: AsyncSession, customer_id: str, posting_ids: list[str], policy: ReliefPolicy
) -> list[Disputed]:
    """The customer's postings named, in the order given. Another customer's, or none at all: NotFound, the same
    answer for both. A kind the policy does not cover (a relief, a repayment): NotDisputable."""
    p = models.posting
    rows = {
        row.id: row
        for row in await session.execute(
            select(p.c.id, p.c.kind, p.c.amount, p.c.created_at).where(
                p.c.id.in_(posting_ids), p.c.customer_id == customer_id
            )
        )
    }
    missing = [posting_id for posting_id in posting_ids if posting_id not in rows]
    if missing:
        raise NotFound("No such transaction.", transaction_ids=missing)
    refused = [posting_id for posting_id in posting_ids if not policy.covers(rows[posting_id].kind)]
    if refused:
        raise NotDisputable(
            "Only transactions the relief policy covers can be disputed: " + ", ".join(sorted(policy.kinds)) + ".",
            transaction_ids=refused,
        )
    return [Disputed(i, rows[i].kind, int(rows[i].amount), rows[i].created_at) for i in posting_ids]


async def open_dispute(
    session: AsyncSession,
    *,
    customer_id: str,
    postings: list[Disputed],
    description: str,
    channel: Channel,
    opened_by: str,
    cipher: FieldCipher,
    now: datetime,
) -> str:
    """A new dispute in `open`, or AlreadyDisputed (with the dispute's id) when a posting is in a live or relieved
    one. The look-up answers the usual case; the unique claim decides between requests that arrive together."""
    ids = [d.posting_id for d in postings]
    t = models.dispute_transaction
    taken = (await session.execute(select(t.c.dispute_id, t.c.claim).where(t.c.claim.in_(ids)))).first()
    if taken is not None:
        raise AlreadyDisputed(
            "A transaction named is already in a dispute.", dispute_id=taken.dispute_id, transaction_id=taken.claim
        )
    dispute_id = new_id("dsp")
    try:
        async with session.begin_nested():
            await session.execute(
                models.dispute.insert().values(
                    id=dispute_id,
                    customer_id=customer_id,
                    status=Status.OPEN.value,
                    channel=channel.value,
                    opened_by=opened_by,
                    description=cipher.seal(description, context=DESCRIPTION_CONTEXT),
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.execute(
                t.insert(),
                [
                    {
                        "id": new_id("dtx"),
                        "dispute_id": dispute_id,
                        "posting_id": d.posting_id,
                        "kind": d.kind,
                        "amount": d.amount,
                        "claim": d.posting_id,
                    }
                    for d in postings
                ],
            )
    except IntegrityError as exc:
        raise AlreadyDisputed("A transaction named is already in a dispute.") from exc
    await _append(session, dispute_id, Transition(None, Status.OPEN, opened_by, None, now))
    return dispute_id


async def load(
    session: AsyncSession, dispute_id: str, *, customer_id: str | None = None, for_update: bool = False
) -> Any:
    """The dispute; for a customer, only their own (another's answers exactly as a missing one: 404)."""
    return await owned_row(
        session,
        models.dispute,
        dispute_id,
        customer_id=customer_id,
        for_update=for_update,
        missing=NotFound("No such dispute."),
    )


def description_of(dispute: Any, cipher: FieldCipher) -> str:
    return cipher.open(dispute.description, context=DESCRIPTION_CONTEXT)


async def apply(session: AsyncSession, dispute_id: str, transition: Transition, **values: Any) -> None:
    """Move the dispute, only from the status the transition was made from: of two decisions at once, one wins and
    the other is an IllegalTransition. `values`: the columns the move sets (declaration, decision)."""
    assert transition.from_status is not None
    d = models.dispute
    result = await session.execute(
        update(d)
        .where(d.c.id == dispute_id, d.c.status == transition.from_status.value)
        .values(status=transition.to_status.value, updated_at=transition.at, **values)
        .returning(d.c.id)
    )
    if result.first() is None:
        raise IllegalTransition("The dispute changed meanwhile.", status_now="changed")
    if transition.to_status is Status.REJECTED:  # its transactions may be disputed again, with new facts
        t = models.dispute_transaction
        await session.execute(update(t).where(t.c.dispute_id == dispute_id).values(claim=None))
    await _append(session, dispute_id, transition)


async def record_relief(
    session: AsyncSession, dispute_id: str, posting_id: str, relief_posting_id: str, amount: int
) -> None:
    t = models.dispute_transaction
    await session.execute(
        update(t)
        .where(t.c.dispute_id == dispute_id, t.c.posting_id == posting_id)
        .values(relief_posting_id=relief_posting_id, relieved_amount=amount)
    )


async def _append(session: AsyncSession, dispute_id: str, transition: Transition) -> None:
    await session.execute(
        models.dispute_transition.insert().values(
            id=new_id("dtr"),
            dispute_id=dispute_id,
            from_status=transition.from_status.value if transition.from_status else None,
            to_status=transition.to_status.value,
            actor=transition.actor,
            reason=transition.reason,
            at=transition.at,
        )
    )


async def transactions_of(session: AsyncSession, dispute_id: str) -> list[Any]:
    t, p = models.dispute_transaction, models.posting
    query = (
        select(t, p.c.created_at)
        .join(p, p.c.id == t.c.posting_id)
        .where(t.c.dispute_id == dispute_id)
        .order_by(p.c.created_at, t.c.posting_id)
    )
    return list((await session.execute(query)).all())


async def amounts_of(session: AsyncSession, dispute_ids: list[str]) -> dict[str, int]:
    """What each dispute's transactions moved in total."""
    if not dispute_ids:
        return {}
    t = models.dispute_transaction
    query = select(t.c.dispute_id, func.sum(t.c.amount)).where(t.c.dispute_id.in_(dispute_ids)).group_by(t.c.dispute_id)
    return {str(dispute_id): int(total) for dispute_id, total in await session.execute(query)}


async def transitions_of(session: AsyncSession, dispute_id: str) -> list[Any]:
    t = models.dispute_transition
    query = select(t).where(t.c.dispute_id == dispute_id).order_by(t.c.at, t.c.id)
    return list((await session.execute(query)).all())


async def list_disputes(
    session: AsyncSession,
    *,
    customer_id: str | None = None,
    status: Status | None = None,
    overdue_at: datetime | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[Any]:
    """Oldest first (a queue), paged by id. `overdue_at`: only the undecided ones whose declaration is older than
    the policy's target at that moment (INC-7: relief is prompt, and staff see the ones that are not)."""
    d = models.dispute
    query = select(d).order_by(d.c.id).limit(limit)
    if customer_id is not None:
        query = query.where(d.c.customer_id == customer_id)
    if status is not None:
        query = query.where(d.c.status == status.value)
    if overdue_at is not None:
        query = query.where(d.c.status == Status.UNDER_REVIEW.value, d.c.relief_due_at < overdue_at)
    if after is not None:
        query = query.where(d.c.id > after)
    return list((await session.execute(query)).all())


def is_overdue(dispute: Any, now: datetime) -> bool:
    return bool(
        dispute.status == Status.UNDER_REVIEW.value
        and dispute.relief_due_at is not None
        and dispute.relief_due_at < now
    )
