"""Recovery codes: ten single-use codes, shown once at authenticator enrolment, each standing in for a lost factor once.

A code is 10 characters from a 31-letter alphabet without look-alikes (no 0/o, 1/i/l), shown as `xxxxx-xxxxx`:
about 49.5 bits, far beyond what an online guesser gets through the challenge's five attempts and the account's
lockout. They are stored only as keyed hashes (FieldCipher.blind_index, bound to the customer): with this much
entropy an unsalted keyed HMAC needs no argon2 stretching, a leaked table without the key gives nothing away, and
the look-up of the code typed is one indexed equality. Each is used by one conditional UPDATE (`used_at IS NULL`):
of two requests racing with the same code exactly one changes the row, and only that one succeeds.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import accounts, models
from shared.contracts.notifications import (
    CodeOperation,
    EventType,
    NotificationData,
    RecoveryCodesRegeneratedData,
    RecoveryCodeUsedData,
)
from shared.crypto import FieldCipher
from shared.events import record_event
from shared.ids import new_id
from shared.notifications import send_notification
from shared.outbox import Outbox

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0, 1, i, l, o: nothing read or typed as something else
GROUP = 5
GROUPS = 2
_CONTEXT = "recovery_code"


def new_code() -> str:
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP)) for _ in range(GROUPS))
    return "-".join(groups)


def normalise(code: str) -> str | None:
    """The code as stored (lower case, no separators), or None when it cannot be one: nothing else is looked up."""
    cleaned = code.strip().lower().replace("-", "").replace(" ", "")
    if len(cleaned) != GROUP * GROUPS or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def code_hash(cipher: FieldCipher, customer_id: str, normalised: str) -> str:
    # Bound to the customer: another customer's code never matches, and equal hashes reveal nothing across accounts.
    return cipher.blind_index(normalised, context=f"{_CONTEXT}:{customer_id}")


async def replace_set(session: AsyncSession, cipher: FieldCipher, customer_id: str, *, now: datetime) -> list[str]:
    """A new set of COUNT codes, returned in clear this once; every earlier code of the customer stops working."""
    r, c = models.recovery_code, models.customer
    # Two new sets at once are made one after the other: else each delete misses the other's uncommitted rows, and
    # both sets (twenty codes) would stand.
    await session.execute(select(c.c.id).where(c.c.id == customer_id).with_for_update())
    await session.execute(delete(r).where(r.c.customer_id == customer_id))
    codes: list[str] = []
    hashes: set[str] = set()
    while len(codes) < COUNT:
        code = new_code()
        digest = code_hash(cipher, customer_id, code.replace("-", ""))
        if digest not in hashes:  # 1 in 10^14: drawn again rather than break the primary key
            hashes.add(digest)
            codes.append(code)
    await session.execute(
        r.insert(), [{"customer_id": customer_id, "code_hash": h, "created_at": now, "used_at": None} for h in hashes]
    )
    return codes


async def remaining(session: AsyncSession, customer_id: str) -> int:
    r = models.recovery_code
    query = select(func.count()).select_from(r).where(r.c.customer_id == customer_id, r.c.used_at.is_(None))
    return int((await session.execute(query)).scalar_one())


async def consume(session: AsyncSession, cipher: FieldCipher, customer_id: str, code: str, *, now: datetime) -> bool:
    """Whether `code` was one of the customer's unused codes; it is used now (in the caller's transaction)."""
    normalised = normalise(code)
    if normalised is None:
        return False
    r = models.recovery_code
    used = await session.execute(
        r.update()
        .where(
            r.c.customer_id == customer_id,
            r.c.code_hash == code_hash(cipher, customer_id, normalised),
            r.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(used.rowcount == 1)  # type: ignore[attr-defined]


async def announce_use(
    session: AsyncSession,
    outbox: Outbox,
    cipher: FieldCipher,
    customer: Any,
    *,
    challenge_id: str,
    operation: str,
    ip: str,
    now: datetime,
) -> int:
    """A code was used: the customer hears of it on every contact (e-mail and SMS, whatever their preferences) and
    fraud records it as a risk signal. The codes left."""
    left = await remaining(session, customer.id)
    contact = accounts.contact_of(customer, cipher)
    # The operation as the challenge stored it: checked against the contract by send_notification (a str here).
    data = RecoveryCodeUsedData.model_construct(
        at=now, remaining=left, operation=cast(CodeOperation, operation), ip=ip[:64]
    )
    # A challenge is verified once: one notice per code used.
    await _tell_everywhere(
        session, outbox, contact, EventType.RECOVERY_CODE_USED, data, f"auth:recovery-used:{challenge_id}"
    )
    await record_event(
        outbox,
        session,
        type="recovery_code_used",
        occurred_at=now,
        customer_id=customer.id,
        ip=ip,
        data={"operation": operation, "remaining": left},
    )
    return left


async def announce_regeneration(
    session: AsyncSession, outbox: Outbox, cipher: FieldCipher, customer: Any, *, device_id: str | None, now: datetime
) -> None:
    """A new set replaced the old one: told on every contact, and recorded for fraud."""
    contact = accounts.contact_of(customer, cipher)
    data = RecoveryCodesRegeneratedData.model_construct(at=now, count=COUNT)
    # Each set is told apart, however close in time.
    await _tell_everywhere(
        session, outbox, contact, EventType.RECOVERY_CODES_REGENERATED, data, f"auth:recovery-new:{new_id('rcs')}"
    )
    await record_event(
        outbox,
        session,
        type="recovery_codes_regenerated",
        occurred_at=now,
        customer_id=customer.id,
        device_id=device_id,
        data={"count": COUNT},
    )


async def _tell_everywhere(
    session: AsyncSession,
    outbox: Outbox,
    contact: accounts.Contact,
    event_type: EventType,
    data: NotificationData,
    stamp: str,
) -> None:
    """By e-mail and by SMS, each its own notice, whatever the customer chose: a recovery code stands in for a lost
    factor, and whoever used it may hold one of the two."""
    for channel, email, phone in (("email", contact.email, None), ("sms", None, contact.phone)):
        if email or phone:
            await send_notification(
                outbox, session, key=f"{stamp}:{channel}", event_type=event_type,
                customer_id=contact.customer_id, language=contact.language, email=email, phone=phone, data=data,
            )  # fmt: skip
