"""ATM sessions: what a partner ATM shows as a QR for the customer's app to scan, valid a few minutes.

The QR reads `sekisho-atm:<session_id>:<secret>`. The partner later names the session by its id alone (in its
authorize call, in clear), so the id cannot prove that the app scanned the QR: the secret does, and only its keyed
digest is stored.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.errors import QrInvalid, SessionExpired
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.statements import Prepared, Statements

QR_PREFIX = "sekisho-atm"
_QR = re.compile(rf"^{QR_PREFIX}:(?P<session_id>atms_[0-9a-z]{{26}}):(?P<secret>[A-Za-z0-9_-]{{22,64}})$")
_DIGEST_CONTEXT = "atm_session_qr"


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    qr: str
    expires_at: datetime


async def open_session(
    session: AsyncSession, *, partner_id: str, atm_id: str, cipher: FieldCipher, now: datetime, seconds: int
) -> OpenedSession:
    session_id = new_id("atms")
    secret = secrets.token_urlsafe(16)
    expires_at = now + timedelta(seconds=seconds)
    await session.execute(
        models.atm_session.insert().values(
            id=session_id,
            partner_id=partner_id,
            atm_id=atm_id,
            qr_digest=_digest(cipher, session_id, secret),
            created_at=now,
            expires_at=expires_at,
        )
    )
    return OpenedSession(session_id, f"{QR_PREFIX}:{session_id}:{secret}", expires_at)


async def scanned_session(session: AsyncSession, *, qr: str, cipher: FieldCipher, now: datetime) -> Any:
    """The session whose QR this is, locked for the withdrawal about to be attached to it. Anything that is not a
    QR an ATM showed is one answer (QrInvalid): the app learns nothing about which sessions exist."""
    found = _QR.match(qr)
    if found is None:
        raise QrInvalid("This is not the QR code of a partner ATM.")
    s = models.atm_session
    row = (await session.execute(select(s).where(s.c.id == found["session_id"]).with_for_update())).first()
    if row is None or not hmac.compare_digest(row.qr_digest, _digest(cipher, row.id, found["secret"])):
        raise QrInvalid("This is not the QR code of a partner ATM.")
    if row.expires_at <= now:
        raise SessionExpired("This QR code has expired: start again at the ATM to show a new one.")
    return row


_LOAD = Prepared(select(models.atm_session).where(models.atm_session.c.id == bindparam("session")))


async def load_session(statements: Statements, session_id: str) -> Any | None:
    return await statements.one_or_none(_LOAD, {"session": session_id})


def _digest(cipher: FieldCipher, session_id: str, secret: str) -> str:
    return cipher.blind_index(f"{session_id}:{secret}", context=_DIGEST_CONTEXT)
