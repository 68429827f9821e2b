"""Customer routes of txn that read (API.md "Customer API"): the account and its transactions, only the caller's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import and_, or_, select

from services.txn import credit_lines, models
from services.txn.dependencies import CustomerDep
from services.txn.schemas import AccountView, TransactionPage, TransactionView
from shared.dependencies import SessionDep, only_from
from shared.problems import problem_responses

router = APIRouter(prefix="/v1/me", tags=["account"], dependencies=[only_from("gateway")])


@router.get(
    "/account",
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def get_account(customer_id: CustomerDep, session: SessionDep) -> AccountView:
    s = await credit_lines.summary(session, customer_id)
    return AccountView(
        credit_limit=s.credit_limit,
        outstanding=s.outstanding,
        held=s.held,
        available=s.available,
        wallet_balance=s.wallet_balance,
    )


@router.get(
    "/transactions",
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def list_transactions(
    customer_id: CustomerDep,
    session: SessionDep,
    before: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,8}_[0-9a-z]{26}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> TransactionPage:
    """Newest first: withdrawals authorized and not yet completed (pending), then what the ledger holds. `before`
    is the `next` of the previous page. Only the caller's own: the customer id comes from the gateway alone."""
    pending: list[TransactionView] = []
    if before is None:
        h = models.hold
        held = await session.execute(
            select(h).where(h.c.customer_id == customer_id, h.c.status == "active").order_by(h.c.created_at.desc())
        )
        pending = [
            TransactionView(
                transaction_id=row.reference, kind=row.kind, status="pending", amount=row.amount, at=row.created_at
            )
            for row in held
        ]
    p = models.posting
    query = select(p).where(p.c.customer_id == customer_id)
    if before is not None:
        anchor = (await session.execute(select(p.c.created_at).where(p.c.id == before))).first()
        if anchor is not None:
            query = query.where(
                or_(p.c.created_at < anchor.created_at, and_(p.c.created_at == anchor.created_at, p.c.id < before))
            )
    rows = (await session.execute(query.order_by(p.c.created_at.desc(), p.c.id.desc()).limit(limit))).all()
    posted = [
        TransactionView(
            transaction_id=row.id,
            kind=row.kind,
            status="completed",
            amount=row.amount,
            memo=row.memo,
            at=row.created_at,
        )
        for row in rows
    ]
    return TransactionPage(transactions=pending + posted, next=rows[-1].id if len(rows) == limit else None)
