"""Credit information: what txn reports, or would report, to the credit bureau about a customer (a withdrawal's debt,
a delinquency), and the deletion of the records a fraud caused (INC-6 (c) 不正取引等により発生した信用情報の抹消).

A record is never deleted here: relief flags it `deletion_requested` with the dispute that proved the fraud, and
the deletion is then sent to the bureau (credit_bureau.py); the bureau's acknowledgement makes it `deleted`. A
bureau that does not answer leaves the request `deletion_requested`, never lost: sending again (the staff route, or
the next send for the same dispute) delivers it. Staff can show what was reported, when its deletion was asked for,
and when the bureau deleted it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.credit_bureau import BureauRecord, BureauUnavailable, CreditBureau
from shared.ids import new_id


class RecordKind(StrEnum):
    DEBT = "debt"  # a withdrawal on the credit line: a loan the bureau hears of
    DELINQUENCY = "delinquency"  # a repayment missed on that loan


class RecordStatus(StrEnum):
    REPORTED = "reported"
    DELETION_REQUESTED = "deletion_requested"  # flagged by relief; the bureau has not acknowledged it yet
    DELETED = "deleted"  # the bureau acknowledged the deletion


@dataclass(frozen=True)
class Flagged:
    record_id: str
    posting_id: str
    kind: str


async def record_debt(session: AsyncSession, customer_id: str, posting_id: str, amount: int, at: datetime) -> str:
    """The debt a completed withdrawal (`posting_id`) leaves on the customer's record; called in the completion's
    transaction. Once per posting: a retried completion records nothing twice and answers the first record."""
    return await _record(session, RecordKind.DEBT, customer_id, posting_id, amount, at)


async def record_delinquency(
    session: AsyncSession, customer_id: str, posting_id: str, amount: int, at: datetime
) -> str:
    """A repayment missed on the loan of `posting_id`, `amount` yen overdue."""
    return await _record(session, RecordKind.DELINQUENCY, customer_id, posting_id, amount, at)


async def _record(
    session: AsyncSession, kind: RecordKind, customer_id: str, posting_id: str, amount: int, at: datetime
) -> str:
    r = models.credit_information_record
    existing = await session.scalar(select(r.c.id).where(r.c.kind == kind.value, r.c.posting_id == posting_id))
    if existing is not None:
        return str(existing)
    record_id = new_id("cir")
    try:
        async with session.begin_nested():
            await session.execute(
                r.insert().values(
                    id=record_id,
                    customer_id=customer_id,
                    kind=kind.value,
                    posting_id=posting_id,
                    amount=amount,
                    status=RecordStatus.REPORTED.value,
                    recorded_at=at,
                )
            )
    except IntegrityError:  # the same completion, recorded by a concurrent request first
        found = await session.scalar(select(r.c.id).where(r.c.kind == kind.value, r.c.posting_id == posting_id))
        assert found is not None
        return str(found)
    return record_id


async def request_deletion(
    session: AsyncSession,
    *,
    customer_id: str,
    posting_ids: Iterable[str],
    dispute_id: str,
    actor: str,
    at: datetime,
) -> list[Flagged]:
    """Flag every record the fraudulent postings caused (their debts and any delinquency on them) for deletion,
    naming the dispute that proved the fraud. A record already flagged keeps its first request."""
    r = models.credit_information_record
    ids = list(posting_ids)
    if not ids:
        return []
    flagged = await session.execute(
        update(r)
        .where(
            r.c.customer_id == customer_id,
            r.c.posting_id.in_(ids),
            r.c.status == RecordStatus.REPORTED.value,
        )
        .values(
            status=RecordStatus.DELETION_REQUESTED.value,
            deletion_dispute_id=dispute_id,
            deletion_requested_by=actor,
            deletion_requested_at=at,
        )
        .returning(r.c.id, r.c.posting_id, r.c.kind)
    )
    return [Flagged(row.id, row.posting_id, row.kind) for row in flagged]


async def report(session: AsyncSession, bureau: CreditBureau, record_id: str, at: datetime) -> bool:
    """Report the record to the bureau and keep its acknowledgement; False when the bureau did not answer (the
    record stays unacknowledged, `reported_at` empty: the debt is real whether or not the bureau heard of it)."""
    r = models.credit_information_record
    row = (await session.execute(select(r).where(r.c.id == record_id))).one()
    if row.reported_at is not None:
        return True
    try:
        acknowledged = await bureau.report(_as_sent(row))
    except BureauUnavailable:
        return False
    await session.execute(
        update(r).where(r.c.id == record_id).values(reported_at=at, bureau_reference=acknowledged.reference)
    )
    return True


async def send_deletions(session: AsyncSession, bureau: CreditBureau, dispute_id: str, at: datetime) -> list[str]:
    """Send the bureau the deletion of every record the dispute flagged and the bureau has not acknowledged yet;
    the ids it acknowledged (now `deleted`). The first call the bureau does not answer stops the round: the rest
    stay `deletion_requested` for the next send. Rows are locked so two sends do not race on one record."""
    r = models.credit_information_record
    pending = (
        await session.execute(
            select(r)
            .where(r.c.deletion_dispute_id == dispute_id, r.c.status == RecordStatus.DELETION_REQUESTED.value)
            .order_by(r.c.id)
            .with_for_update()
        )
    ).all()
    deleted: list[str] = []
    for row in pending:
        try:
            acknowledged = await bureau.request_deletion(_as_sent(row), dispute_id)
        except BureauUnavailable:
            break
        await session.execute(
            update(r)
            .where(r.c.id == row.id)
            .values(status=RecordStatus.DELETED.value, deleted_at=at, deletion_reference=acknowledged.reference)
        )
        deleted.append(str(row.id))
    return deleted


def _as_sent(row: Any) -> BureauRecord:
    return BureauRecord(
        record_id=row.id,
        customer_id=row.customer_id,
        kind=row.kind,
        amount=int(row.amount),
        recorded_at=row.recorded_at,
    )


async def records_of(session: AsyncSession, customer_id: str) -> list[Any]:
    """The customer's records, oldest first."""
    r = models.credit_information_record
    query = select(r).where(r.c.customer_id == customer_id).order_by(r.c.recorded_at, r.c.id)
    return list((await session.execute(query)).all())
