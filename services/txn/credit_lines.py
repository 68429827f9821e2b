"""Credit lines: the limit staff set per customer, what is drawn (the ledger) and held (authorizations in flight).

available = limit - outstanding - active holds. Every draw takes the line's row lock first (`lock_line`), then
reads and reserves under it, so concurrent draws on one line queue and never pass the limit (on PostgreSQL a row
lock; on SQLite the one writer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import ledger, models
from services.txn.errors import CreditLineMissing
from shared.ids import new_id
from shared.statements import Prepared, Statements, statements_of


@dataclass(frozen=True)
class CreditLine:
    customer_id: str
    limit: int
    version: int


@dataclass(frozen=True)
class AccountSummary:
    credit_limit: int
    outstanding: int
    held: int
    available: int
    wallet_balance: int


async def set_limit(
    session: AsyncSession, *, customer_id: str, limit: int, staff_id: str, reason: str | None, at: datetime
) -> tuple[CreditLine, int | None]:
    """Set the line's limit (a supervisor's decision): the line and the limit it had before (None: new)."""
    c = models.credit_line
    row = (await session.execute(select(c).where(c.c.customer_id == customer_id).with_for_update())).first()
    old = int(row.credit_limit) if row is not None else None
    if row is None:
        version = 1
        await session.execute(
            c.insert().values(
                customer_id=customer_id, credit_limit=limit, version=1, updated_at=at, updated_by=staff_id
            )
        )
    else:
        version = int(row.version) + 1
        await session.execute(
            c.update()
            .where(c.c.customer_id == customer_id)
            .values(credit_limit=limit, version=version, updated_at=at, updated_by=staff_id)
        )
    await session.execute(
        models.credit_line_change.insert().values(
            id=new_id("clc"),
            customer_id=customer_id,
            old_limit=old,
            new_limit=limit,
            staff_id=staff_id,
            reason=reason,
            at=at,
        )
    )
    return CreditLine(customer_id, limit, version), old


_c = models.credit_line
_LOCK_LINE = Prepared(
    select(_c.c.credit_limit, _c.c.version).where(_c.c.customer_id == bindparam("customer")).with_for_update()
)


async def lock_line(session: AsyncSession | Statements, customer_id: str) -> CreditLine:
    """The line, locked for the rest of the transaction: the first step of every draw. No line: CreditLineMissing."""
    row = await statements_of(session).one_or_none(_LOCK_LINE, {"customer": customer_id})
    if row is None:
        raise CreditLineMissing("No credit line has been set for this customer.")
    return CreditLine(customer_id, int(row.credit_limit), int(row.version))


async def held(session: AsyncSession, customer_id: str) -> int:
    h = models.hold
    total = await session.scalar(
        select(func.coalesce(func.sum(h.c.amount), 0)).where(h.c.customer_id == customer_id, h.c.status == "active")
    )
    return int(total or 0)


async def summary(session: AsyncSession, customer_id: str) -> AccountSummary:
    """What `GET /v1/me/account` shows: the line, what is drawn and held, what is left, and the wallet."""
    c = models.credit_line
    limit = await session.scalar(select(c.c.credit_limit).where(c.c.customer_id == customer_id))
    outstanding = await ledger.balance(session, ledger.credit_account(customer_id))
    on_hold = await held(session, customer_id)
    wallet = -await ledger.balance(session, ledger.wallet_account(customer_id))
    credit_limit = int(limit or 0)
    return AccountSummary(
        credit_limit=credit_limit,
        outstanding=outstanding,
        held=on_hold,
        available=max(0, credit_limit - outstanding - on_hold),
        wallet_balance=wallet,
    )
