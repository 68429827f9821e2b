"""The partner's authorize: the ATM presents the session, the customer's one-time code and the amount; txn checks
them, the customer's KYC as it stands, the limits, the credit line and fraud's score, then holds the amount.

Every check that fails is a decline (an answer, not an error: the partner shows it and moves on) with a stable
reason; only a check that could not be made (auth or fraud unreachable) is an error, and then nothing is held
(fail closed). The withdrawal's row is locked first, so codes presented for it are counted one at a time; the credit
line's row next, so that concurrent authorizations on one line queue and never pass it (credit_lines.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import atm_sessions, credit_lines, ledger, models, withdrawals
from services.txn.errors import CreditLineMissing
from services.txn.idempotency import Answer
from services.txn.runtime import TxnRuntime
from services.txn.schemas import AuthorizationDecision
from services.txn.settings import TxnSettings
from services.txn.withdrawals import Status
from shared.contracts.scoring import ScoreRequest
from shared.events import record_event
from shared.ids import new_id

JST = timezone(timedelta(hours=9))  # the limits' days and months are Japan's
HOLD_KIND = "withdrawal"


class Decline(StrEnum):
    SESSION_NOT_FOUND = "session_not_found"  # no such session, or another partner's
    SESSION_EXPIRED = "session_expired"
    WITHDRAWAL_NOT_FOUND = "withdrawal_not_found"  # the customer has not asked for cash at this session
    CODE_EXPIRED = "code_expired"
    CODE_INVALID = "code_invalid"
    AMOUNT_MISMATCH = "amount_mismatch"  # not the amount the customer approved in the app
    ATTEMPTS_EXCEEDED = "attempts_exceeded"  # the withdrawal died of wrong codes or amounts
    ALREADY_AUTHORIZED = "already_authorized"
    WITHDRAWAL_DECLINED = "withdrawal_declined"  # declined before: the customer starts again
    KYC_REQUIRED = "kyc_required"  # KYC-2, as auth says now
    NO_CREDIT_LINE = "no_credit_line"
    LIMIT_EXCEEDED = "limit_exceeded"  # per withdrawal, per JST day or per JST month
    INSUFFICIENT_CREDIT = "insufficient_credit"
    FRAUD_DECLINED = "fraud_declined"  # fraud's score said review or deny
    REVERSED = "reversed"  # the partner reversed this request_id before it arrived (idempotency tombstone)


@dataclass(frozen=True)
class Decision:
    authorization_id: str | None = None
    reason: Decline | None = None

    @property
    def approved(self) -> bool:
        return self.authorization_id is not None

    def answer(self) -> Answer:
        """The partner's answer, as stored for the request_id and replayed byte for byte."""
        view = AuthorizationDecision(
            decision="approved" if self.approved else "declined",
            authorization_id=self.authorization_id,
            reason_code=None if self.reason is None else self.reason.value,
        )
        return Answer(200, view.model_dump_json(exclude_none=True).encode())


def partner_scope(partner_id: str) -> str:
    """The partner's own namespace of request_ids: one partner's ids never meet another's."""
    return f"atm:{partner_id}"


async def authorize(
    session: AsyncSession,
    runtime: TxnRuntime,
    *,
    partner_id: str,
    session_id: str,
    one_time_code: str,
    amount: int,
    request_id: str,
) -> Decision:
    now = runtime.clock.now()
    atm = await atm_sessions.load_session(session, session_id)
    if atm is None or atm.partner_id != partner_id:
        return Decision(reason=Decline.SESSION_NOT_FOUND)
    if atm.expires_at <= now:
        return Decision(reason=Decline.SESSION_EXPIRED)
    withdrawal = await withdrawals.lock_for_session(session, session_id)
    if withdrawal is None:
        return Decision(reason=Decline.WITHDRAWAL_NOT_FOUND)
    refused = await _presented(session, runtime, withdrawal, one_time_code=one_time_code, amount=amount, now=now)
    if refused is None:
        refused = await _checked(session, runtime, withdrawal)
    if refused is not None:
        await _record_decline(session, runtime, withdrawal, atm, refused, now=now)
        return Decision(reason=refused)

    authorization_id = new_id("atz")
    expires_at = now + timedelta(seconds=runtime.settings.txn_hold_seconds)
    await session.execute(
        models.atm_authorization.insert().values(
            id=authorization_id,
            partner_id=partner_id,
            request_id=request_id,
            withdrawal_id=withdrawal.id,
            customer_id=withdrawal.customer_id,
            atm_id=atm.atm_id,
            amount=amount,
            status="approved",
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.execute(
        models.hold.insert().values(
            id=new_id("hld"),
            customer_id=withdrawal.customer_id,
            kind=HOLD_KIND,
            reference=authorization_id,
            amount=amount,
            status="active",
            created_at=now,
            expires_at=expires_at,
        )
    )
    await withdrawals.set_status(session, withdrawal.id, Status.AUTHORIZED, now=now)
    return Decision(authorization_id=authorization_id)


async def _presented(
    session: AsyncSession, runtime: TxnRuntime, withdrawal: Any, *, one_time_code: str, amount: int, now: datetime
) -> Decline | None:
    """What the ATM presented, against the withdrawal the customer asked for. Wrong codes and amounts count."""
    status = Status(withdrawal.status)
    if status is Status.LOCKED:
        return Decline.ATTEMPTS_EXCEEDED
    if status is Status.AUTHORIZED:
        return Decline.ALREADY_AUTHORIZED
    if status is Status.DECLINED:
        return Decline.WITHDRAWAL_DECLINED
    if withdrawal.code_expires_at <= now:
        return Decline.CODE_EXPIRED
    if not withdrawals.code_matches(runtime.cipher, withdrawal, one_time_code):
        await withdrawals.count_failure(session, withdrawal, now=now)
        return Decline.CODE_INVALID
    if amount != withdrawal.amount:
        await withdrawals.count_failure(session, withdrawal, now=now)
        return Decline.AMOUNT_MISMATCH
    return None


async def _checked(session: AsyncSession, runtime: TxnRuntime, withdrawal: Any) -> Decline | None:
    """The customer's side, once the ATM presented the right code and amount; any refusal ends the withdrawal."""
    refused = await _refusal(session, runtime, withdrawal)
    if refused is not None:
        await withdrawals.set_status(session, withdrawal.id, Status.DECLINED, now=runtime.clock.now())
    return refused


async def _refusal(session: AsyncSession, runtime: TxnRuntime, withdrawal: Any) -> Decline | None:
    customer_id, amount = withdrawal.customer_id, int(withdrawal.amount)
    kyc = await runtime.auth.kyc_status(customer_id)  # a verification withdrawn seconds ago counts (KYC-2)
    if kyc.status != "verified":
        return Decline.KYC_REQUIRED
    try:
        line = await credit_lines.lock_line(session, customer_id)
    except CreditLineMissing:
        return Decline.NO_CREDIT_LINE
    if _over_limits(runtime.settings, amount, await _withdrawn(session, customer_id, runtime.clock.now())):
        return Decline.LIMIT_EXCEEDED
    outstanding = await ledger.balance(session, ledger.credit_account(customer_id))
    if amount > line.limit - outstanding - await credit_lines.held(session, customer_id):
        return Decline.INSUFFICIENT_CREDIT
    # Fail closed: no score, no money (FraudClient raises, and nothing of this transaction stands). The device is
    # the app's that asked for the cash: the ATM's own address and network say nothing about the customer.
    asked = ScoreRequest(
        operation="withdrawal",
        customer_id=customer_id,
        device_id=withdrawal.device_id,
        amount=amount,
        max_amount=line.limit,
    )
    score = await runtime.fraud.score(asked)
    if score.action in ("review", "deny"):
        return Decline.FRAUD_DECLINED
    return None


@dataclass(frozen=True)
class Withdrawn:
    today: int  # yen authorized since the JST day began, not reversed or expired
    this_month: int


async def _withdrawn(session: AsyncSession, customer_id: str, now: datetime) -> Withdrawn:
    """What the customer's withdrawals took this JST day and month: authorizations held or completed (a hold counts
    until it is released)."""
    local = now.astimezone(JST)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    a = models.atm_authorization
    day_start, month_start = day.astimezone(UTC), month.astimezone(UTC)
    today = func.coalesce(func.sum(case((a.c.created_at >= day_start, a.c.amount), else_=0)), 0)
    this_month = func.coalesce(func.sum(a.c.amount), 0)
    row = (
        await session.execute(
            select(today, this_month).where(
                a.c.customer_id == customer_id,
                a.c.status.in_(("approved", "completed")),
                a.c.created_at >= month_start,
            )
        )
    ).one()
    return Withdrawn(int(row[0]), int(row[1]))


def _over_limits(settings: TxnSettings, amount: int, withdrawn: Withdrawn) -> bool:
    return (
        amount > settings.txn_withdrawal_max_amount
        or withdrawn.today + amount > settings.txn_withdrawal_daily_max
        or withdrawn.this_month + amount > settings.txn_withdrawal_monthly_max
    )


async def _record_decline(
    session: AsyncSession, runtime: TxnRuntime, withdrawal: Any, atm: Any, reason: Decline, *, now: datetime
) -> None:
    """fraud hears of every declined authorization of a customer's withdrawal: wrong codes at an ATM are a sign."""
    await record_event(
        runtime.outbox,
        session,
        type="withdrawal_declined",
        occurred_at=now,
        customer_id=withdrawal.customer_id,
        outcome=reason.value,
        data={
            "amount": int(withdrawal.amount),
            "withdrawal_id": withdrawal.id,
            "partner_id": atm.partner_id,
            "atm_id": atm.atm_id,
        },
    )
