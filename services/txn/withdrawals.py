"""Withdrawals: the customer's request, from the app, to take cash at the ATM session whose QR it scanned, and the
one-time code the customer then gives the ATM.

The gateway forwards the request only with a fresh possession factor bound to this QR and this amount (AUTH-WD-1,
policy `withdrawal`); the partner's authorize must present the code with the same amount (authorizations.py). The
code is six digits, valid a few minutes, stored only as a keyed digest; wrong codes or amounts presented for it are
counted, and the third kills the withdrawal: a partner, or a thief at the ATM, cannot try the 10^6 codes.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import atm_sessions, models
from services.txn.errors import LimitExceeded, SessionUsed
from services.txn.runtime import TxnRuntime
from shared.crypto import FieldCipher
from shared.events import record_event
from shared.ids import new_id
from shared.statements import Prepared, Statements

MAX_ATTEMPTS = 3  # wrong codes or amounts a withdrawal survives: two
_CODE_CONTEXT = "withdrawal_code"


class Status(StrEnum):
    REQUESTED = "requested"  # waiting for the partner's authorize
    AUTHORIZED = "authorized"  # an authorization holds its amount; settlements.py follows it from there
    DECLINED = "declined"  # presented with the right code and declined (KYC, limits, credit, fraud): start again
    LOCKED = "locked"  # MAX_ATTEMPTS wrong codes or amounts: dead


@dataclass(frozen=True)
class RequestedWithdrawal:
    withdrawal_id: str
    one_time_code: str
    expires_at: datetime


async def request_withdrawal(
    session: AsyncSession,
    runtime: TxnRuntime,
    *,
    customer_id: str,
    qr: str,
    amount: int,
    device_id: str | None,
    ip: str | None,
) -> RequestedWithdrawal:
    """Attach the customer's withdrawal to the ATM session of `qr` (one per session) and give its one-time code.
    The customer is the one the gateway vouches for, never one named in the request."""
    settings = runtime.settings
    now = runtime.clock.now()
    if amount > settings.txn_withdrawal_max_amount:
        raise LimitExceeded(
            "The amount is more than one withdrawal may take.",
            limit="per_withdrawal",
            maximum=settings.txn_withdrawal_max_amount,
        )
    atm = await atm_sessions.scanned_session(session, qr=qr, cipher=runtime.cipher, now=now)
    w = models.withdrawal
    if await session.scalar(select(w.c.id).where(w.c.session_id == atm.id)) is not None:
        raise SessionUsed("This ATM session already has its withdrawal: start again at the ATM.")
    withdrawal_id = new_id("wdr")
    code = f"{secrets.randbelow(10**6):06d}"
    # The code dies with the session it was given for, whichever ends first.
    expires_at = min(now + timedelta(seconds=settings.txn_withdrawal_code_seconds), atm.expires_at)
    await session.execute(
        w.insert().values(
            id=withdrawal_id,
            customer_id=customer_id,
            session_id=atm.id,
            amount=amount,
            code_digest=_code_digest(runtime.cipher, withdrawal_id, code),
            code_expires_at=expires_at,
            failed_attempts=0,
            device_id=device_id,
            status=Status.REQUESTED.value,
            created_at=now,
            updated_at=now,
        )
    )
    await record_event(
        runtime.outbox,
        session,
        type="withdrawal_requested",
        occurred_at=now,
        customer_id=customer_id,
        device_id=device_id,
        ip=ip,
        data={"amount": amount, "withdrawal_id": withdrawal_id, "partner_id": atm.partner_id, "atm_id": atm.atm_id},
    )
    return RequestedWithdrawal(withdrawal_id, code, expires_at)


_w = models.withdrawal
_SET_STATUS = Prepared(
    _w.update()
    .where(_w.c.id == bindparam("withdrawal"))
    .values(status=bindparam("new_status"), updated_at=bindparam("at"))
)
_COUNT_FAILURE = Prepared(
    _w.update()
    .where(_w.c.id == bindparam("withdrawal"))
    .values(failed_attempts=bindparam("failed"), status=bindparam("new_status"), updated_at=bindparam("at"))
)


def code_matches(cipher: FieldCipher, withdrawal: Any, code: str) -> bool:
    return hmac.compare_digest(withdrawal.code_digest, _code_digest(cipher, withdrawal.id, code))


async def count_failure(statements: Statements, withdrawal: Any, *, now: datetime) -> None:
    """One more wrong code or amount presented for the withdrawal; the MAX_ATTEMPTS-th locks it for good."""
    failed = int(withdrawal.failed_attempts) + 1
    status = Status.LOCKED if failed >= MAX_ATTEMPTS else Status(withdrawal.status)
    params = {"withdrawal": withdrawal.id, "failed": failed, "new_status": status.value, "at": now}
    await statements.execute(_COUNT_FAILURE, params)


async def set_status(statements: Statements, withdrawal_id: str, status: Status, *, now: datetime) -> None:
    await statements.execute(_SET_STATUS, {"withdrawal": withdrawal_id, "new_status": status.value, "at": now})


def _code_digest(cipher: FieldCipher, withdrawal_id: str, code: str) -> str:
    return cipher.blind_index(f"{withdrawal_id}:{code}", context=_CODE_CONTEXT)
