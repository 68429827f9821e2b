"""Per-bank suspension (LINK-4): staff stop every new link to a bank and every charge from its accounts, and lift
it again. The links themselves stay as they are: charges resume when the bank does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.errors import BankSuspended


@dataclass(frozen=True)
class BankSuspension:
    bank_code: str
    suspended: bool
    reason: str | None
    updated_at: datetime
    updated_by: str


async def set_suspension(
    session: AsyncSession, *, bank_code: str, suspended: bool, reason: str | None, staff_id: str, at: datetime
) -> tuple[BankSuspension, bool]:
    """Suspend the bank or lift its suspension: the state now and whether it was suspended before."""
    s = models.bank_suspension
    row = (await session.execute(select(s).where(s.c.bank_code == bank_code).with_for_update())).first()
    values = {"suspended": suspended, "reason": reason, "updated_at": at, "updated_by": staff_id}
    if row is None:
        await session.execute(s.insert().values(bank_code=bank_code, **values))
    else:
        await session.execute(s.update().where(s.c.bank_code == bank_code).values(**values))
    return BankSuspension(bank_code, suspended, reason, at, staff_id), bool(row is not None and row.suspended)


async def list_suspensions(session: AsyncSession) -> list[BankSuspension]:
    """Every bank staff ever suspended, with whether it is suspended now."""
    s = models.bank_suspension
    rows = await session.execute(select(s).order_by(s.c.bank_code))
    return [BankSuspension(r.bank_code, bool(r.suspended), r.reason, r.updated_at, r.updated_by) for r in rows]


async def is_suspended(session: AsyncSession, bank_code: str) -> bool:
    s = models.bank_suspension
    return bool(await session.scalar(select(s.c.suspended).where(s.c.bank_code == bank_code)))


async def refuse_if_suspended(session: AsyncSession, bank_code: str) -> None:
    if await is_suspended(session, bank_code):
        raise BankSuspended(
            "Links and charges with this bank are suspended for now; nothing was done.", bank_code=bank_code
        )
