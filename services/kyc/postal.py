"""Postal KYC (KYC-1): a code mailed to the declared address by non-forwardable registered mail, entered back
within its validity and a few tries. Only a digest of the code is kept."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import models
from services.kyc.errors import PostalAddressIncomplete

# 32 letters and digits without 0/O and 1/I, which a reader of a letter confuses: 8 of them, 40 bits.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
_POSTAL_CODE = re.compile(r"^\s*〒?\s*([0-9]{3})-?([0-9]{4})\s*(.+)$", re.DOTALL)


@dataclass(frozen=True)
class PostalAddress:
    postal_code: str  # 123-4567
    address: str


def postal_address(declared_address: str) -> PostalAddress:
    """The postal code and the rest of a declared address (`〒530-0001 大阪府…`, full-width digits too): a registered
    letter needs the code, so an address without one cannot be proven by post."""
    found = _POSTAL_CODE.match(unicodedata.normalize("NFKC", declared_address))
    if found is None or not found.group(3).strip():
        raise PostalAddressIncomplete(
            "The declared address has no postal code (〒123-4567 …), so no letter can be sent to it; "
            "use another method or correct the address."
        )
    return PostalAddress(f"{found.group(1)}-{found.group(2)}", found.group(3).strip())


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_digest(verification_id: str, code: str) -> str:
    return hashlib.sha256(f"{verification_id}:{code}".encode()).hexdigest()


def normalized(code: str) -> str:
    """What the customer typed, as the letter prints it: upper case, without spaces or hyphens, half-width."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", code)).upper()


async def store_code(
    session: AsyncSession, verification_id: str, code: str, *, now: datetime, valid_days: int
) -> datetime:
    expires_at = now + timedelta(days=valid_days)
    await session.execute(
        models.postal_code.insert().values(
            verification_id=verification_id,
            code_hash=code_digest(verification_id, code),
            expires_at=expires_at,
            attempts=0,
        )
    )
    return expires_at


async def code_row(session: AsyncSession, verification_id: str) -> Any:
    p = models.postal_code
    return (await session.execute(select(p).where(p.c.verification_id == verification_id))).first()


@dataclass(frozen=True)
class Attempt:
    right: bool
    attempts_left: int


async def try_code(session: AsyncSession, row: Any, code: str, *, now: datetime, max_attempts: int) -> Attempt:
    """One try, counted before it is checked (the case row is locked by the caller)."""
    p = models.postal_code
    attempts = row.attempts + 1
    right = hmac.compare_digest(row.code_hash, code_digest(row.verification_id, normalized(code)))
    values: dict[str, Any] = {"attempts": attempts}
    if right:
        values["used_at"] = now
    await session.execute(update(p).where(p.c.verification_id == row.verification_id).values(**values))
    return Attempt(right, max(0, max_attempts - attempts))
