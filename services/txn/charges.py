"""Charges: money drawn from a linked bank account into the wallet, held to LINK-3's limits.

A charge is checked in this order, and a refusal's `code` says why:
1. the link is the customer's own (404 otherwise) and active (`link_suspended`: pending re-verification, INC-9, or
   replaced by a new link), and its bank is not suspended (`bank_suspended`, LINK-4);
2. the amount is within the per-charge cap (`charge_cap_exceeded`);
3. a new link, until its cool-off ends, brings in at most `txn_new_link_charge_max_amount` in all
   (`link_cooling_off`): the account's real holder, told of the link (LINK-2), has that long to stop it before
   more than a little money moves;
4. this month's charges (JST), every link of the customer together, stay within the monthly cap
   (`monthly_cap_exceeded`);
5. fraud scores the charge before money moves: review or deny declines it (`fraud_declined`), and no score at all
   declines it too (503: fail closed);
6. the bank debits the account (`insufficient_funds`, `bank_account_closed`).
Then one posting: the bank's settlement account is debited and the customer's wallet credited.

The customer's wallet row is locked first (SELECT … FOR UPDATE; on SQLite the one writer), so a customer's charges
run one after another and the caps are read and the charge written under one lock: concurrent charges never pass
the monthly cap. The Idempotency-Key is looked up under the same lock: the same key with the same body answers the
first charge again and moves no money; with another body it is refused (422). Only completed charges are kept, so a
refused request's key may be used again (nothing happened under it). Every charge asked is a `charge_requested`
event for fraud (its outcome the refusal's code, or "ok"), and every completed one a `charge_completed`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import bank_links, bank_suspensions, ledger, models
from services.txn.bank_links import Caller
from services.txn.banks import DebitOutcome
from services.txn.errors import (
    BankAccountClosed,
    ChargeCapExceeded,
    FraudDeclined,
    InsufficientFunds,
    KycNotVerified,
    LinkCoolingOff,
    LinkSuspended,
    MonthlyCapExceeded,
    Refused,
    RequestIdReused,
)
from services.txn.runtime import TxnRuntime
from shared.contracts.scoring import ScoreRequest
from shared.events import record_event
from shared.ids import new_id

JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class Charged:
    charge_id: str
    link_id: str
    amount: int
    status: str
    charged_at: datetime
    replayed: bool = False  # the answer of an earlier request with the same Idempotency-Key


def request_digest(link_id: str, amount: int) -> str:
    """What an Idempotency-Key was first used with: the same key with another body is another request."""
    return hashlib.sha256(json.dumps({"link_id": link_id, "amount": amount}, sort_keys=True).encode()).hexdigest()


def month_start(at: datetime) -> datetime:
    """The start of `at`'s calendar month in Japan, as UTC."""
    local = at.astimezone(JST)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def charge(
    session: AsyncSession,
    runtime: TxnRuntime,
    *,
    caller: Caller,
    link_id: str,
    amount: int,
    idempotency_key: str | None,
) -> Charged:
    customer_id = caller.customer_id
    if (await runtime.auth.kyc_status(customer_id)).status != "verified":
        raise KycNotVerified("Verify your identity before charging the wallet.")
    now = runtime.clock.now()
    await _lock_wallet(session, customer_id, now)
    digest = request_digest(link_id, amount)
    if idempotency_key is not None:
        earlier = await _charge_with_key(session, customer_id, idempotency_key)
        if earlier is not None:
            if earlier.request_digest != digest:
                raise RequestIdReused("This Idempotency-Key was used with another charge.")
            return _charged(earlier, replayed=True)
    link = await bank_links.customer_link(session, customer_id=customer_id, link_id=link_id)
    charge_id = new_id("chg")
    try:
        await _check_limits(session, runtime, link, amount, now)
        score = await runtime.fraud.score(
            ScoreRequest(
                operation="charge",
                customer_id=customer_id,
                device_id=caller.device_id,  # without it every charge would look like one from a new device
                ip=caller.ip,
                amount=amount,
                bank_account=link.account_digest,
            )
        )
        # step_up passes: the gateway stepped this very charge up with a possession factor already.
        if score.action in ("review", "deny"):
            raise FraudDeclined("This charge was declined by our fraud checks.", score_id=score.score_id)
        account = bank_links.account_of(runtime.cipher, link)
        debit = await runtime.bank.debit(account, amount=amount, reference=charge_id)
        if debit.outcome is DebitOutcome.INSUFFICIENT_FUNDS:
            raise InsufficientFunds("The bank account has not enough funds for this charge.")
        if debit.outcome is not DebitOutcome.DONE:
            raise BankAccountClosed("The bank refused the charge: the account is closed or unknown.")
    except Refused as refused:
        await _record(runtime, session, caller, "charge_requested", link, amount, charge_id, outcome=refused.code)
        raise
    posted = await ledger.post(
        session,
        kind=ledger.PostingKind.CHARGE,
        reference=charge_id,
        customer_id=customer_id,
        amount=amount,
        legs=[
            ledger.Leg(ledger.bank_account(link.bank_code), amount),
            ledger.Leg(ledger.wallet_account(customer_id), -amount),
        ],
        actor="customer",
        at=now,
        memo=f"{link.bank_name} ****{link.account_last4}",
    )
    values = {
        "id": charge_id,
        "customer_id": customer_id,
        "link_id": link.id,
        "bank_code": link.bank_code,
        "amount": amount,
        "status": "completed",
        "posting_id": posted.posting_id,
        "bank_reference": debit.bank_reference,
        "idempotency_key": idempotency_key,
        "request_digest": digest if idempotency_key is not None else None,
        "created_at": now,
    }
    await session.execute(models.charge.insert().values(**values))
    await _record(runtime, session, caller, "charge_requested", link, amount, charge_id, outcome="ok")
    await _record(runtime, session, caller, "charge_completed", link, amount, charge_id, outcome="ok")
    return Charged(charge_id, link.id, amount, "completed", now)


async def _check_limits(session: AsyncSession, runtime: TxnRuntime, link: Any, amount: int, now: datetime) -> None:
    settings = runtime.settings
    if link.status != bank_links.ACTIVE:
        raise LinkSuspended(
            "This bank link is suspended until the account is linked again under today's checks."
            if link.status == bank_links.SUSPENDED
            else "This bank link was replaced by a newer link of the same account.",
            link_status=link.status,
        )
    await bank_suspensions.refuse_if_suspended(session, link.bank_code)
    if amount > settings.txn_charge_max_amount:
        raise ChargeCapExceeded(
            f"One charge may bring in at most {settings.txn_charge_max_amount} yen.",
            limit=settings.txn_charge_max_amount,
        )
    c = models.charge
    if now < link.cool_off_until:
        allowance = settings.txn_new_link_charge_max_amount
        spent = int(
            await session.scalar(
                select(func.coalesce(func.sum(c.c.amount), 0)).where(
                    c.c.link_id == link.id, c.c.created_at < link.cool_off_until
                )
            )
            or 0
        )
        if spent + amount > allowance:
            raise LinkCoolingOff(
                f"This bank link is new: until {link.cool_off_until.isoformat()} it may bring in at most "
                f"{allowance} yen in all.",
                cool_off_ends_at=link.cool_off_until.isoformat(),
                limit=allowance,
                remaining=max(0, allowance - spent),
            )
    cap = settings.txn_charge_monthly_max
    this_month = int(
        await session.scalar(
            select(func.coalesce(func.sum(c.c.amount), 0)).where(
                c.c.customer_id == link.customer_id, c.c.created_at >= month_start(now)
            )
        )
        or 0
    )
    if this_month + amount > cap:
        raise MonthlyCapExceeded(
            f"Charges may bring in at most {cap} yen a month; {max(0, cap - this_month)} yen are left this month.",
            limit=cap,
            remaining=max(0, cap - this_month),
        )


async def _lock_wallet(session: AsyncSession, customer_id: str, at: datetime) -> None:
    """The customer's wallet row, made on the first charge and locked for the rest of the transaction."""
    w = models.wallet
    if await session.scalar(select(w.c.customer_id).where(w.c.customer_id == customer_id)) is None:
        try:
            async with session.begin_nested():
                await session.execute(w.insert().values(customer_id=customer_id, created_at=at))
        except IntegrityError:  # a concurrent first charge made it
            pass
    await session.execute(select(w.c.customer_id).where(w.c.customer_id == customer_id).with_for_update())


async def _charge_with_key(session: AsyncSession, customer_id: str, key: str) -> Any:
    c = models.charge
    return (await session.execute(select(c).where(c.c.customer_id == customer_id, c.c.idempotency_key == key))).first()


def _charged(row: Any, *, replayed: bool) -> Charged:
    return Charged(row.id, row.link_id, int(row.amount), row.status, row.created_at, replayed=replayed)


async def _record(
    runtime: TxnRuntime,
    session: AsyncSession,
    caller: Caller,
    type: str,
    link: Any,
    amount: int,
    charge_id: str,
    *,
    outcome: str,
) -> None:
    await record_event(
        runtime.outbox,
        session,
        type=type,
        occurred_at=runtime.clock.now(),
        customer_id=caller.customer_id,
        device_id=caller.device_id,
        ip=caller.ip,
        outcome=outcome,
        data={"amount": amount, "bank_account": link.account_digest, "link_id": link.id, "charge_id": charge_id},
    )
