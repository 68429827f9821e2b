"""Decoy applications: an application with an e-mail already registered, answered as if it were new (API.md: no
enumeration), must stay indistinguishable when the applicant goes on to log in with the password they chose.

What the applicant can observe, and what a decoy shows:
- `POST /v1/accounts` answers 201 with an id either way (accounts.py); the owner of the address is told.
- Logging in with that e-mail and the chosen password: a new account answers 401 `mfa_required` with a
  challenge for `sms` (its device is new; login.login_methods). The decoy answers the same, in the
  application's language, where the real owner's password would have got `invalid_credentials` and given the
  address away.
- Sending a code: 202 with the same body, the same limits (per challenge and per customer hour); the code goes
  to nobody. The applicant who gave their own number will
  notice that no message arrives: that is the one difference left, and it cannot be closed without creating an
  account for an address its owner did not ask for. It costs an application (rate-limited per address), a
  login and a code request per probe, and every probe tells the owner (accounts.py).
- Answering: every code is wrong (401 `challenge_failed`, attempts counted down, the challenge dies after 5),
  and wrong codes count towards a lock of the decoy as they would for an account (423 after 5, the wait doubling).
- Wrong passwords count on the real account, as they would on the new one (a lock of strangers only).

The password is kept only as a keyed digest (not the owner's password: the applicant's choice, which may be a
real person's guess at their own), and a decoy is forgotten after `unknown_retention` (login.py's setting).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from shared.crypto import FieldCipher
from shared.database import Database

PURPOSE = "decoy_login"  # the purpose of a decoy's login challenges
KEPT_PER_ADDRESS = 5  # the most recent decoys of one address are enough to answer every probe alike


@dataclass(frozen=True)
class Decoy:
    id: str
    language: str


def _digest(cipher: FieldCipher, email_index: str, password: str) -> str:
    # Keyed and cheap on purpose: checked after a wrong password, it must add no second argon2id's worth of time.
    return cipher.blind_index(password, context=f"decoy.password:{email_index}")


async def remember(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    decoy_id: str,
    email_index: str,
    password: str,
    language: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    d = models.decoy_application
    await session.execute(delete(d).where(d.c.expires_at < now))
    await session.execute(
        d.insert().values(
            id=decoy_id,
            email_index=email_index,
            password_digest=_digest(cipher, email_index, password),
            language=language,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    older = (
        select(d.c.id)
        .where(d.c.email_index == email_index)
        .order_by(d.c.created_at.desc(), d.c.id.desc())
        .offset(KEPT_PER_ADDRESS)
        .scalar_subquery()
    )
    await session.execute(delete(d).where(d.c.id.in_(older)))


async def find(
    database: Database, cipher: FieldCipher, email_index: str, password: str, *, now: datetime
) -> Decoy | None:
    """The live decoy of this address whose chosen password this is, if any."""
    d = models.decoy_application
    async with database.reading() as session:
        rows = (
            await session.execute(
                select(d.c.id, d.c.language, d.c.password_digest)
                .where(d.c.email_index == email_index, d.c.expires_at > now)
                .order_by(d.c.created_at.desc())
            )
        ).all()
    wanted = _digest(cipher, email_index, password)
    for row in rows:
        if hmac.compare_digest(row.password_digest, wanted):
            return Decoy(row.id, row.language)
    return None


async def language_of(session: AsyncSession, decoy_id: str) -> str:
    d = models.decoy_application
    language = (await session.execute(select(d.c.language).where(d.c.id == decoy_id))).scalar_one_or_none()
    return str(language or "ja")
