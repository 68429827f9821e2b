"""The registry of partner ATM networks: their HMAC keys (created, rotated, revoked) and the nonces seen.

`sekisho partner create|rotate|revoke` calls these inside one transaction; the signature check
(signatures.py) reads a key and records a nonce through them.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.models import partner, partner_key, signature_nonce
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.problems import Problem
from shared.statements import Prepared, Statements, statements_of

CIPHER_CONTEXT = "partner_key.secret"
SECRET_BYTES = 32


class PartnerNotFound(Problem):
    status = 404
    code = "partner_not_found"


class PartnerExists(Problem):
    status = 409
    code = "partner_exists"


class PartnerDisabled(Problem):
    status = 409
    code = "partner_disabled"


def encode_secret(raw: bytes) -> str:
    """base64url without padding, as API.md hands it to the partner."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_secret(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != SECRET_BYTES:
        raise ValueError("a partner key is 32 bytes")
    return raw


def normalize_cidrs(cidrs: list[str]) -> list[str]:
    """Each CIDR as its network; a host address with a prefix (10.0.0.1/8) is refused, as it is ambiguous."""
    return [str(ipaddress.ip_network(cidr.strip(), strict=True)) for cidr in cidrs]


@dataclass(frozen=True)
class PartnerKey:
    """A key as the signature check needs it, with its partner's state."""

    key_id: str
    partner_id: str
    partner_name: str
    sealed_secret: str
    expires_at: datetime | None
    revoked_at: datetime | None
    partner_disabled_at: datetime | None
    allowed_cidrs: list[str] | None


async def _partner_named(session: AsyncSession, name: str) -> Any:
    row = (await session.execute(select(partner).where(partner.c.name == name))).first()
    if row is None:
        raise PartnerNotFound(f"No partner is named {name!r}.")
    return row


async def _new_key(session: AsyncSession, *, partner_id: str, cipher: FieldCipher, now: datetime) -> dict[str, str]:
    secret = encode_secret(os.urandom(SECRET_BYTES))
    key_id = new_id("pkey")
    await session.execute(
        partner_key.insert().values(
            key_id=key_id,
            partner_id=partner_id,
            secret=cipher.seal(secret, context=CIPHER_CONTEXT),
            created_at=now,
            expires_at=None,
            revoked_at=None,
        )
    )
    return {"partner_id": partner_id, "key_id": key_id, "secret": secret}


async def create_partner(
    session: AsyncSession, *, name: str, allowed_cidrs: list[str] | None, cipher: FieldCipher, now: datetime
) -> dict[str, str]:
    """A partner and its first key: `{partner_id, key_id, secret}`; the secret is shown this once."""
    if not name.strip():
        raise Problem("A partner needs a name.", code="partner_name_required")
    existing = (await session.execute(select(partner.c.id).where(partner.c.name == name))).first()
    if existing is not None:
        raise PartnerExists(f"A partner named {name!r} exists already.")
    partner_id = new_id("ptn")
    cidrs = normalize_cidrs(allowed_cidrs) if allowed_cidrs else None
    await session.execute(
        partner.insert().values(
            id=partner_id,
            name=name,
            allowed_cidrs=json.dumps(cidrs) if cidrs is not None else None,
            created_at=now,
            disabled_at=None,
        )
    )
    return await _new_key(session, partner_id=partner_id, cipher=cipher, now=now)


async def rotate_partner_key(
    session: AsyncSession, *, name: str, overlap: timedelta, cipher: FieldCipher, now: datetime
) -> dict[str, Any]:
    """A new key; the keys still active stay valid for `overlap` (never longer than they already were)."""
    found = await _partner_named(session, name)
    if found.disabled_at is not None:
        raise PartnerDisabled(f"The partner {name!r} is disabled.")
    until = now + overlap
    active = (
        (partner_key.c.partner_id == found.id)
        & partner_key.c.revoked_at.is_(None)
        & (partner_key.c.expires_at.is_(None) | (partner_key.c.expires_at > now))
    )
    old = (await session.execute(select(partner_key.c.key_id).where(active))).scalars().all()
    await session.execute(
        update(partner_key)
        .where(active & (partner_key.c.expires_at.is_(None) | (partner_key.c.expires_at > until)))
        .values(expires_at=until)
    )
    created = await _new_key(session, partner_id=found.id, cipher=cipher, now=now)
    return {**created, "old_keys_expire_at": until.isoformat(), "old_key_ids": list(old)}


async def revoke_partner(session: AsyncSession, *, name: str, key_id: str | None, now: datetime) -> list[str]:
    """Revokes one key, or every key and disables the partner; the key ids revoked now."""
    found = await _partner_named(session, name)
    condition = (partner_key.c.partner_id == found.id) & partner_key.c.revoked_at.is_(None)
    if key_id is not None:
        owned = (
            await session.execute(
                select(partner_key.c.key_id).where(
                    (partner_key.c.partner_id == found.id) & (partner_key.c.key_id == key_id)
                )
            )
        ).first()
        if owned is None:
            raise PartnerNotFound(f"The partner {name!r} has no key {key_id!r}.")
        condition = condition & (partner_key.c.key_id == key_id)
    revoked = list((await session.execute(select(partner_key.c.key_id).where(condition))).scalars())
    await session.execute(update(partner_key).where(condition).values(revoked_at=now))
    if key_id is None:
        await session.execute(update(partner).where(partner.c.id == found.id).values(disabled_at=now))
    return revoked


# Built once (shared/statements.py): both run for every signed request.
_FIND_KEY = Prepared(
    select(
        partner_key.c.key_id,
        partner_key.c.partner_id,
        partner_key.c.secret,
        partner_key.c.expires_at,
        partner_key.c.revoked_at,
        partner.c.name,
        partner.c.disabled_at,
        partner.c.allowed_cidrs,
    )
    .join(partner, partner.c.id == partner_key.c.partner_id)
    .where(partner_key.c.key_id == bindparam("key"))
)


def _record_nonce_statement(dialect: Any) -> Prepared:
    return Prepared(
        dialect.insert(signature_nonce)
        .values(partner_id=bindparam("the_partner"), nonce=bindparam("the_nonce"), seen_at=bindparam("now"))
        .on_conflict_do_nothing(index_elements=["partner_id", "nonce"])
        .returning(signature_nonce.c.nonce)
    )


_RECORD_NONCE = {"postgresql": _record_nonce_statement(postgresql), "sqlite": _record_nonce_statement(sqlite)}


async def find_key(session: AsyncSession | Statements, *, key_id: str) -> PartnerKey | None:
    row = await statements_of(session).one_or_none(_FIND_KEY, {"key": key_id})
    if row is None:
        return None
    return PartnerKey(
        key_id=row.key_id,
        partner_id=row.partner_id,
        partner_name=row.name,
        sealed_secret=row.secret,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        partner_disabled_at=row.disabled_at,
        allowed_cidrs=json.loads(row.allowed_cidrs) if row.allowed_cidrs is not None else None,
    )


async def record_nonce(session: AsyncSession | Statements, *, partner_id: str, nonce: str, now: datetime) -> bool:
    """True the first time a partner's nonce is seen, on any replica; False for a replay."""
    statements = statements_of(session)
    recorded = await statements.one_or_none(
        _RECORD_NONCE[statements.dialect], {"the_partner": partner_id, "the_nonce": nonce, "now": now}
    )
    return recorded is not None


async def purge_nonces(session: AsyncSession, *, before: datetime, keep_seconds: int) -> None:
    await session.execute(
        delete(signature_nonce).where(signature_nonce.c.seen_at < before - timedelta(seconds=keep_seconds))
    )
