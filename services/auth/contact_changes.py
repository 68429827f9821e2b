"""Changing the e-mail address or the phone number (AUTH-ATTR-1/2; issue 13 item 4).

Whoever holds the password and the inbox must not be able to take the phone over, nor the reverse. So a change
is proven twice: the request itself by a factor that is neither e-mail nor the contact alone (an SMS code to the
phone registered now, or the authenticator app: the policy refuses e-mail codes for `profile_change` and
`ensure_strong_step_up` checks it again here), and the new contact by a code sent to it, which makes the change
take effect (`confirm`). Until then the old contact stays in force; a new request for the same attribute
supersedes a pending one. The time of the change is kept (`customer.contact_changed_at`): the gateway makes
money wait a cool-off after it, or a TOTP step-up.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from services.auth.errors import ChallengeDead, ChallengeFailed
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.problems import Problem
from shared.tokens import Factor

Attribute = Literal["email", "phone"]
CONTACT_ATTRIBUTES: tuple[Attribute, ...] = ("email", "phone")
# What may prove a contact change: not an e-mail code (the inbox falls with the same stolen credentials far too
# often), and the SMS code goes to the phone registered now, never to the new number.
STRONG_METHODS = frozenset({"sms", "totp", "hwk", "swk"})  # hwk, swk: a passkey, which no phishing site can relay
MAX_ATTEMPTS = 5


class ContactChangeNotFound(Problem):
    status = 404
    code = "contact_change_not_found"


class StrongerFactorRequired(Problem):
    status = 403
    code = "step_up_method_refused"


@dataclass(frozen=True)
class Started:
    change_id: str
    attribute: Attribute
    code: str
    expires_in: int


def ensure_strong_step_up(
    step_up: Factor | None, *, what: str = "Changing the e-mail address or the phone number"
) -> None:
    """The factor the gateway's step-up brought for this change must be an SMS code, TOTP or a passkey (defence in
    depth: the policy refuses e-mail for profile_change and device_remove already)."""
    if step_up is None or step_up.method not in STRONG_METHODS:
        raise StrongerFactorRequired(
            f"{what} needs a code sent to your current phone, or your authenticator app.",
            methods=sorted(STRONG_METHODS),
        )


def _code_hash(cipher: FieldCipher, change_id: str, code: str) -> str:
    return cipher.blind_index(code, context=f"contact_change.code:{change_id}")


async def start(
    session: AsyncSession,
    *,
    customer_id: str,
    attribute: Attribute,
    value: str,
    cipher: FieldCipher,
    now: datetime,
    ttl_seconds: int,
) -> Started:
    """A pending change of `attribute` to `value`, superseding any pending one of the same attribute; the code to
    send to `value`."""
    c = models.contact_change
    await session.execute(
        c.update()
        .where(c.c.customer_id == customer_id, c.c.attribute == attribute, c.c.status == "pending")
        .values(status="superseded")
    )
    change_id = new_id("ccg")
    code = f"{secrets.randbelow(1_000_000):06d}"
    await session.execute(
        c.insert().values(
            id=change_id,
            customer_id=customer_id,
            attribute=attribute,
            new_value=cipher.seal(value, context=f"contact_change.{attribute}"),
            code_hash=_code_hash(cipher, change_id, code),
            attempts=0,
            status="pending",
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return Started(change_id, attribute, code, ttl_seconds)


async def pending(session: AsyncSession, change_id: str, *, customer_id: str, now: datetime) -> Any:
    """The customer's own pending change, locked; another customer's is not found."""
    c = models.contact_change
    row = (
        await session.execute(select(c).where(c.c.id == change_id, c.c.customer_id == customer_id).with_for_update())
    ).first()
    if row is None:
        raise ContactChangeNotFound("No such contact change.")
    if row.status != "pending" or row.expires_at <= now:
        raise ChallengeDead("This change is no longer pending; start it again.")
    return row


def code_matches(row: Any, code: str, *, cipher: FieldCipher) -> bool:
    return hmac.compare_digest(row.code_hash, _code_hash(cipher, row.id, code))


async def record_wrong_code(session: AsyncSession, change_id: str) -> int:
    """Counted in its own transaction by the caller; the attempts left (0: the change is dead)."""
    c = models.contact_change
    row = (await session.execute(select(c.c.attempts).where(c.c.id == change_id).with_for_update())).first()
    if row is None:
        return 0
    attempts: int = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts}
    if attempts >= MAX_ATTEMPTS:
        values["status"] = "dead"
    await session.execute(c.update().where(c.c.id == change_id).values(**values))
    return max(0, MAX_ATTEMPTS - attempts)


def new_value(row: Any, cipher: FieldCipher) -> str:
    return cipher.open(row.new_value, context=f"contact_change.{row.attribute}")


async def mark_applied(session: AsyncSession, change_id: str, *, now: datetime) -> None:
    c = models.contact_change
    await session.execute(c.update().where(c.c.id == change_id).values(status="applied", applied_at=now))


def wrong_code(attempts_left: int) -> ChallengeFailed:
    return ChallengeFailed("The code is not correct.", attempts_left=attempts_left)
