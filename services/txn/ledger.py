"""The ledger: integer yen, double entry, append-only. Every balance is the sum of its account's entries.

Accounts are named, not stored: `customer:<id>:credit` (what the customer owes on the credit line; a debit balance),
`customer:<id>:wallet` (what the company owes the customer in the wallet; a credit balance), `partner:<id>:atm`
(cash ATM partners paid out for the company; a credit balance until settled), `bank:<code>:settlement` (money banks
owe the company for charges drawn from linked accounts) and `company:fraud_relief` (losses the company bears for
victims, INC-7). A posting's entries sum to zero; a correction is a new posting, never an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from shared.ids import new_id


class PostingKind(StrEnum):
    WITHDRAWAL = "withdrawal"  # cash from an ATM on the credit line
    CHARGE = "charge"  # the wallet funded from a linked bank account
    RELIEF = "relief"  # a victim relieved of a fraudulent debt (INC-7): compensating entries
    REPAYMENT = "repayment"  # money the customer paid back on the line


def credit_account(customer_id: str) -> str:
    return f"customer:{customer_id}:credit"


def wallet_account(customer_id: str) -> str:
    return f"customer:{customer_id}:wallet"


def atm_account(partner_id: str) -> str:
    return f"partner:{partner_id}:atm"


def bank_account(bank_code: str) -> str:
    return f"bank:{bank_code}:settlement"


FRAUD_RELIEF = "company:fraud_relief"


@dataclass(frozen=True)
class Leg:
    account: str
    amount: int  # > 0 debit, < 0 credit


class UnbalancedPosting(ValueError):
    """A programming error: entries that do not sum to zero never reach the books."""


@dataclass(frozen=True)
class Posted:
    posting_id: str
    created: bool  # False: this (kind, reference) was posted before; nothing moved now


async def post(
    session: AsyncSession,
    *,
    kind: PostingKind,
    reference: str,
    customer_id: str | None,
    amount: int,
    legs: list[Leg],
    actor: str,
    at: datetime,
    memo: str | None = None,
) -> Posted:
    """Record one business event. The same (kind, reference) again posts nothing and answers the first posting."""
    if amount <= 0 or any(leg.amount == 0 for leg in legs) or len(legs) < 2:
        raise UnbalancedPosting(f"a posting needs a positive amount and non-zero legs: {amount} {legs}")
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedPosting(f"entries of {kind} {reference} sum to {sum(leg.amount for leg in legs)}")
    existing = await _posting_id(session, kind, reference)
    if existing is not None:
        return Posted(existing, created=False)
    posting_id = new_id("pst")
    try:
        async with session.begin_nested():
            await session.execute(
                models.posting.insert().values(
                    id=posting_id,
                    kind=kind.value,
                    reference=reference,
                    customer_id=customer_id,
                    amount=amount,
                    memo=memo,
                    actor=actor,
                    created_at=at,
                )
            )
    except IntegrityError:  # a concurrent request posted the same event first
        found = await _posting_id(session, kind, reference)
        assert found is not None
        return Posted(found, created=False)
    await session.execute(
        models.entry.insert(),
        [
            {
                "id": new_id("ent"),
                "posting_id": posting_id,
                "account": leg.account,
                "amount": leg.amount,
                "created_at": at,
            }
            for leg in legs
        ],
    )
    return Posted(posting_id, created=True)


async def _posting_id(session: AsyncSession, kind: PostingKind, reference: str) -> str | None:
    p = models.posting
    found = await session.scalar(select(p.c.id).where(p.c.kind == kind.value, p.c.reference == reference))
    return str(found) if found is not None else None


async def balance(session: AsyncSession, account: str) -> int:
    e = models.entry
    return int(await session.scalar(select(func.coalesce(func.sum(e.c.amount), 0)).where(e.c.account == account)) or 0)


async def posting_for(session: AsyncSession, kind: PostingKind, reference: str) -> str | None:
    """The posting of this event, when it was made."""
    return await _posting_id(session, kind, reference)
