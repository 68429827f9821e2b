"""The partner's authorize: the ATM presents the session, the customer's one-time code and the amount; txn checks
them, the customer's KYC as it stands, the limits, the credit line and fraud's score, then holds the amount.

Every check that fails is a decline (an answer, not an error: the partner shows it and moves on) with a stable
reason; only a check that could not be made (auth or fraud unreachable) is an error, and then nothing is held
(fail closed). The withdrawal's row is locked first, so codes presented for it are counted one at a time; the credit
line's row next, so that concurrent authorizations on one line queue and never pass it (credit_lines.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, bindparam, case, func, null, or_, select

from services.txn import atm_sessions, ledger, models, withdrawals
from services.txn.idempotency import Answer
from services.txn.runtime import TxnRuntime
from services.txn.schemas import AuthorizationDecision
from services.txn.settings import TxnSettings
from services.txn.withdrawals import Status
from shared.contracts.identity import KycStatus
from shared.contracts.scoring import ScoreAnswer, ScoreRequest
from shared.events import record_event
from shared.ids import new_id
from shared.problems import Problem
from shared.statements import Prepared, Statements

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
    statements: Statements,
    runtime: TxnRuntime,
    *,
    partner_id: str,
    session_id: str,
    one_time_code: str,
    amount: int,
    request_id: str,
) -> Decision:
    now = runtime.clock.now()
    withdrawal = await _locked(statements, session_id)
    if withdrawal is None:  # which of the session and the withdrawal is missing decides the reason
        atm = await atm_sessions.load_session(statements, session_id)
        if atm is None or atm.partner_id != partner_id:
            return Decision(reason=Decline.SESSION_NOT_FOUND)
        if atm.expires_at <= now:
            return Decision(reason=Decline.SESSION_EXPIRED)
        return Decision(reason=Decline.WITHDRAWAL_NOT_FOUND)
    if withdrawal.session_partner_id != partner_id:
        return Decision(reason=Decline.SESSION_NOT_FOUND)
    if withdrawal.session_expires_at <= now:
        return Decision(reason=Decline.SESSION_EXPIRED)
    atm_id = withdrawal.session_atm_id
    refused = await _presented(statements, runtime, withdrawal, one_time_code=one_time_code, amount=amount, now=now)
    if refused is None:
        refused = await _checked(statements, runtime, withdrawal)
    if refused is not None:
        await _record_decline(statements, runtime, withdrawal, partner_id, atm_id, refused, now=now)
        return Decision(reason=refused)

    authorization_id = new_id("atz")
    expires_at = now + timedelta(seconds=runtime.settings.txn_hold_seconds)
    await statements.execute(
        _INSERT_AUTHORIZATION,
        {
            "id": authorization_id,
            "partner_id": partner_id,
            "request_id": request_id,
            "withdrawal_id": withdrawal.id,
            "customer_id": withdrawal.customer_id,
            "atm_id": atm_id,
            "amount": amount,
            "status": "approved",
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    await statements.execute(
        _INSERT_HOLD,
        {
            "id": new_id("hld"),
            "customer_id": withdrawal.customer_id,
            "kind": HOLD_KIND,
            "reference": authorization_id,
            "amount": amount,
            "status": "active",
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    await withdrawals.set_status(statements, withdrawal.id, Status.AUTHORIZED, now=now)
    return Decision(authorization_id=authorization_id)


async def _presented(
    statements: Statements, runtime: TxnRuntime, withdrawal: Any, *, one_time_code: str, amount: int, now: datetime
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
        await withdrawals.count_failure(statements, withdrawal, now=now)
        return Decline.CODE_INVALID
    if amount != withdrawal.amount:
        await withdrawals.count_failure(statements, withdrawal, now=now)
        return Decline.AMOUNT_MISMATCH
    return None


async def _checked(statements: Statements, runtime: TxnRuntime, withdrawal: Any) -> Decline | None:
    """The customer's side, once the ATM presented the right code and amount; any refusal ends the withdrawal."""
    # KYC is asked at once, while the line is locked and read: its answer decides first (KYC-2), but waiting for it
    # before the database would only lengthen the request.
    kyc_asked = asyncio.ensure_future(runtime.auth.kyc_status(withdrawal.customer_id))
    try:
        refused = await _refusal(statements, runtime, withdrawal, kyc_asked)
    finally:
        if not kyc_asked.done():
            kyc_asked.cancel()  # an error above: its answer no longer matters
        elif not kyc_asked.cancelled():
            kyc_asked.exception()  # retrieved, so that a failure left behind by an error above is not logged as lost
    if refused is not None:
        await withdrawals.set_status(statements, withdrawal.id, Status.DECLINED, now=runtime.clock.now())
    return refused


async def _refusal(
    statements: Statements, runtime: TxnRuntime, withdrawal: Any, kyc_asked: asyncio.Future[KycStatus]
) -> Decline | None:
    """The first refusal in this order: KYC as auth says it now, the credit line, the limits, the credit left,
    fraud's score. Fail closed: a KYC status or a score that cannot be had raises, and nothing of this transaction
    stands; fraud is asked only when everything else passed on txn's side, and its answer counts only after KYC's."""
    customer_id, amount = withdrawal.customer_id, int(withdrawal.amount)
    line_limit = None if withdrawal.line_limit is None else int(withdrawal.line_limit)
    refused: Decline | None = None
    if line_limit is None:
        refused = Decline.NO_CREDIT_LINE
    else:
        # Read after the line's lock is held (another statement, so another snapshot): a concurrent draw on the
        # line has committed its hold by now.
        drawn = await _drawn(statements, customer_id, runtime.clock.now())
        if _over_limits(runtime.settings, amount, drawn):
            refused = Decline.LIMIT_EXCEEDED
        elif amount > line_limit - drawn.outstanding - drawn.held:
            refused = Decline.INSUFFICIENT_CREDIT
    score: ScoreAnswer | None = None
    unscored: Exception | None = None
    if refused is None and line_limit is not None:
        # The device is the app's that asked for the cash: the ATM's own address and network say nothing about the
        # customer.
        asked = ScoreRequest(
            operation="withdrawal",
            customer_id=customer_id,
            device_id=withdrawal.device_id,
            amount=amount,
            max_amount=line_limit,
        )
        try:
            score = await runtime.fraud.score(asked)
        except Problem as exc:  # raised below, once KYC's answer (which comes first) is known
            unscored = exc
    kyc = await kyc_asked  # a verification withdrawn seconds ago counts (KYC-2)
    if kyc.status != "verified":
        return Decline.KYC_REQUIRED
    if refused is not None:
        return refused
    if unscored is not None:
        raise unscored  # no score, no money
    assert score is not None
    if score.action in ("review", "deny"):
        return Decline.FRAUD_DECLINED
    return None


_w, _s, _c = models.withdrawal, models.atm_session, models.credit_line


def _locking(line: Any) -> Select[Any]:
    return (
        select(
            _w,
            _s.c.partner_id.label("session_partner_id"),
            _s.c.atm_id.label("session_atm_id"),
            _s.c.expires_at.label("session_expires_at"),
            line,
        )
        .select_from(_w.join(_s, _s.c.id == _w.c.session_id))
        .where(_w.c.session_id == bindparam("session"))
    )


# The withdrawal of an ATM session with its session's partner, ATM and expiry, and its customer's credit line: both
# rows locked in one statement (the session's never changes). The withdrawal's lock makes codes presented for it
# checked and counted one at a time; the line's makes concurrent draws on it queue (credit_lines.py).
_LOCK_WITH_LINE = Prepared(
    _locking(_c.c.credit_limit.label("line_limit"))
    .join(_c, _c.c.customer_id == _w.c.customer_id)
    .with_for_update(of=[_w, _c])
)
# Without a line (or without a withdrawal): the withdrawal alone, locked.
_LOCK_WITHOUT_LINE = Prepared(_locking(null().label("line_limit")).with_for_update(of=_w))


async def _locked(statements: Statements, session_id: str) -> Any | None:
    """The withdrawal of the session, locked, with `session_partner_id`, `session_atm_id`, `session_expires_at` and
    `line_limit` (the customer's credit line, locked too; None: there is none)."""
    found = await statements.one_or_none(_LOCK_WITH_LINE, {"session": session_id})
    if found is None:
        found = await statements.one_or_none(_LOCK_WITHOUT_LINE, {"session": session_id})
    return found


@dataclass(frozen=True)
class Drawn:
    outstanding: int  # what the customer owes on the line (the ledger)
    held: int  # active holds of authorizations in flight
    today: int  # yen authorized since the JST day began, not reversed or expired
    this_month: int


_a, _h, _e = models.atm_authorization, models.hold, models.entry
# Held or completed authorizations of the customer since the JST month began (IN would expand: named instead).
_WITHDRAWN = (
    (_a.c.customer_id == bindparam("customer"))
    & or_(_a.c.status == "approved", _a.c.status == "completed")
    & (_a.c.created_at >= bindparam("month_start"))
)
_DRAWN = Prepared(
    select(
        select(func.coalesce(func.sum(_e.c.amount), 0))
        .where(_e.c.account == bindparam("credit_account"))
        .scalar_subquery()
        .label("outstanding"),
        select(func.coalesce(func.sum(_h.c.amount), 0))
        .where(_h.c.customer_id == bindparam("customer"), _h.c.status == "active")
        .scalar_subquery()
        .label("held"),
        select(func.coalesce(func.sum(case((_a.c.created_at >= bindparam("day_start"), _a.c.amount), else_=0)), 0))
        .where(_WITHDRAWN)
        .scalar_subquery()
        .label("today"),
        select(func.coalesce(func.sum(_a.c.amount), 0)).where(_WITHDRAWN).scalar_subquery().label("this_month"),
    )
)


async def _drawn(statements: Statements, customer_id: str, now: datetime) -> Drawn:
    """In one statement, what the line carries (ledger.balance of the credit account, credit_lines.held) and what
    the customer's withdrawals took this JST day and month: authorizations held or completed (a hold counts until
    it is released)."""
    local = now.astimezone(JST)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    row = await statements.one_or_none(
        _DRAWN,
        {
            "credit_account": ledger.credit_account(customer_id),
            "customer": customer_id,
            "day_start": day.astimezone(UTC),
            "month_start": month.astimezone(UTC),
        },
    )
    return Drawn(int(row.outstanding), int(row.held), int(row.today), int(row.this_month))


def _over_limits(settings: TxnSettings, amount: int, drawn: Drawn) -> bool:
    return (
        amount > settings.txn_withdrawal_max_amount
        or drawn.today + amount > settings.txn_withdrawal_daily_max
        or drawn.this_month + amount > settings.txn_withdrawal_monthly_max
    )


async def _record_decline(
    statements: Statements,
    runtime: TxnRuntime,
    withdrawal: Any,
    partner_id: str,
    atm_id: str,
    reason: Decline,
    *,
    now: datetime,
) -> None:
    """fraud hears of every declined authorization of a customer's withdrawal: wrong codes at an ATM are a sign."""
    await record_event(
        runtime.outbox,
        statements,
        type="withdrawal_declined",
        occurred_at=now,
        customer_id=withdrawal.customer_id,
        outcome=reason.value,
        data={
            "amount": int(withdrawal.amount),
            "withdrawal_id": withdrawal.id,
            "partner_id": partner_id,
            "atm_id": atm_id,
        },
    )


_INSERT_AUTHORIZATION = Prepared(
    _a.insert(),
    columns=(
        "id",
        "partner_id",
        "request_id",
        "withdrawal_id",
        "customer_id",
        "atm_id",
        "amount",
        "status",
        "created_at",
        "expires_at",
    ),
)
_INSERT_HOLD = Prepared(
    _h.insert(), columns=("id", "customer_id", "kind", "reference", "amount", "status", "created_at", "expires_at")
)
