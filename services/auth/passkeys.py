"""Passkeys (WebAuthn, FIDO2): registering a customer's authenticator, and checking what it signs at a login or step-up.

A passkey is phishing-resistant: the browser signs the origin of the page it runs on into every assertion, and an
assertion is accepted only for the configured relying party id and origins, so a code-relaying phishing site gets
nothing it can use. Each ceremony's challenge is held here, used once and within minutes. User verification is
required every time (the authenticator's biometric or PIN: the second factor, shared/tokens.py `user`), and a sign
counter that does not move forward is the mark of a cloned authenticator: refused, and fraud hears of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import webauthn
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from services.auth import models
from services.auth.errors import (
    CeremonyExpired,
    CeremonyNotFound,
    PasskeyExists,
    PasskeyInvalid,
    PasskeyNotFound,
)
from shared.crypto import FieldCipher
from shared.database import Database, owned_row
from shared.ids import new_id
from shared.tokens import Factor, Method

Purpose = Literal["registration", "login", "step_up", "staff_reg", "staff_login"]
Kind = Literal["hwk", "swk"]
# How long a customer's name for a passkey may be ("iPhone", "会社のPC").
NAME_MAX = 64


@dataclass(frozen=True)
class Keyring:
    """Whose passkeys: the table holding them, the column naming their holder, and the purpose of a registration
    ceremony. Customers' and staff members' are held apart (staff_passkeys.py), so neither answers for the other."""

    table: Table
    holder: str
    registration: Purpose

    def holder_of(self, row: Any) -> str:
        return str(getattr(row, self.holder))


CUSTOMERS = Keyring(models.passkey, "customer_id", "registration")
STAFF = Keyring(models.staff_passkey, "staff_id", "staff_reg")


@dataclass(frozen=True)
class WebAuthnConfig:
    rp_id: str
    rp_name: str
    origins: tuple[str, ...]
    ceremony_ttl_seconds: int


@dataclass(frozen=True)
class Ceremony:
    ceremony_id: str
    options: dict[str, Any]  # PublicKeyCredential{Creation,Request}Options as JSON, for navigator.credentials


@dataclass(frozen=True)
class Asserted:
    """A verified assertion: whose passkey, and the factors it proves now."""

    passkey_id: str
    customer_id: str
    factors: tuple[Factor, ...]


class CloneSuspected(PasskeyInvalid):
    """The signature is the passkey's own, but its counter went backwards: two authenticators hold one key."""

    def __init__(self, passkey_id: str, customer_id: str, stored: int, received: int) -> None:
        super().__init__("The passkey could not be verified.")
        self.passkey_id, self.customer_id, self.stored, self.received = passkey_id, customer_id, stored, received

    def counts(self) -> dict[str, int]:
        return {"sign_count_stored": self.stored, "sign_count_received": self.received}


def kind_of(device_type: CredentialDeviceType, backed_up: bool) -> Kind:
    """RFC 8176: `hwk` for a key bound to one device, `swk` for one that is synced or may be backed up (its private
    key leaves the hardware that made it)."""
    return "hwk" if device_type == CredentialDeviceType.SINGLE_DEVICE and not backed_up else "swk"


@dataclass(frozen=True)
class Listed:
    """A passkey as the options name it: its credential id and transport hints."""

    credential_id: str
    transports: str = ""


def _descriptors(rows: list[Any]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=webauthn.base64url_to_bytes(row.credential_id),
            transports=[AuthenticatorTransport(t) for t in row.transports.split(",") if _known_transport(t)] or None,
        )
        for row in rows
    ]


def _known_transport(value: str) -> bool:
    return value in {t.value for t in AuthenticatorTransport}


async def passkeys_of(session: AsyncSession, customer_id: str, keyring: Keyring = CUSTOMERS) -> list[Any]:
    """The passkeys of this holder (a customer's, or with STAFF a staff member's), oldest first."""
    p = keyring.table
    query = select(p).where(p.c[keyring.holder] == customer_id).order_by(p.c.created_at, p.c.id)
    return list((await session.execute(query)).all())


async def _store_ceremony(
    session: AsyncSession,
    *,
    purpose: Purpose,
    challenge: bytes,
    customer_id: str | None,
    challenge_id: str | None,
    now: datetime,
    config: WebAuthnConfig,
) -> str:
    ceremony_id = new_id("wac")
    await session.execute(
        models.webauthn_ceremony.insert().values(
            id=ceremony_id,
            purpose=purpose,
            customer_id=customer_id,
            challenge_id=challenge_id,
            challenge=bytes_to_base64url(challenge),
            created_at=now,
            expires_at=now + timedelta(seconds=config.ceremony_ttl_seconds),
        )
    )
    # Ceremonies nobody finished are forgotten once they cannot be used any more.
    w = models.webauthn_ceremony
    await session.execute(w.delete().where(w.c.expires_at < now - timedelta(hours=1)))
    return ceremony_id


async def start_registration(
    session: AsyncSession,
    *,
    customer_id: str,
    user_name: str,
    now: datetime,
    config: WebAuthnConfig,
    keyring: Keyring = CUSTOMERS,
) -> Ceremony:
    """Options to create a discoverable passkey with user verification, excluding the customer's own passkeys (an
    authenticator that already holds one says so instead of making a second)."""
    options = webauthn.generate_registration_options(
        rp_id=config.rp_id,
        rp_name=config.rp_name,
        user_name=user_name,
        user_id=customer_id.encode(),
        user_display_name=user_name,
        timeout=config.ceremony_ttl_seconds * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(await passkeys_of(session, customer_id, keyring)),
    )
    ceremony_id = await _store_ceremony(
        session,
        purpose=keyring.registration,
        challenge=options.challenge,
        customer_id=customer_id,
        challenge_id=None,
        now=now,
        config=config,
    )
    return Ceremony(ceremony_id, json.loads(webauthn.options_to_json(options)))


async def start_authentication(
    session: AsyncSession,
    *,
    purpose: Literal["login", "step_up", "staff_login"],
    allowed: list[Any],
    customer_id: str | None,
    challenge_id: str | None,
    now: datetime,
    config: WebAuthnConfig,
) -> Ceremony:
    """Options for an assertion; no `allowed` passkeys: any discoverable passkey of this relying party may answer."""
    options = webauthn.generate_authentication_options(
        rp_id=config.rp_id,
        timeout=config.ceremony_ttl_seconds * 1000,
        allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    ceremony_id = await _store_ceremony(
        session,
        purpose=purpose,
        challenge=options.challenge,
        customer_id=customer_id,
        challenge_id=challenge_id,
        now=now,
        config=config,
    )
    return Ceremony(ceremony_id, json.loads(webauthn.options_to_json(options)))


async def claim_ceremony(
    session: AsyncSession, ceremony_id: str, *, purpose: Purpose, customer_id: str | None, now: datetime
) -> bytes:
    """The ceremony's challenge, used up in one atomic statement: two answers at once, only one gets it. Another
    customer's ceremony is not found, as a missing one."""
    w = models.webauthn_ceremony
    found = (
        await session.execute(
            select(w).where(w.c.id == ceremony_id, w.c.purpose == purpose, w.c.customer_id == customer_id)
            if customer_id is not None
            else select(w).where(w.c.id == ceremony_id, w.c.purpose == purpose, w.c.customer_id.is_(None))
        )
    ).first()
    if found is None:
        raise CeremonyNotFound("No such passkey ceremony.")
    claimed = await session.execute(
        w.update().where(w.c.id == ceremony_id, w.c.used_at.is_(None), w.c.expires_at > now).values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise CeremonyExpired("This passkey ceremony is no longer valid; start again.")
    return webauthn.base64url_to_bytes(found.challenge)


async def step_up_challenge_of(
    session: AsyncSession, challenge_id: str, purpose: Literal["step_up", "staff_login"] = "step_up"
) -> bytes | None:
    """The WebAuthn challenge given with a step-up (or staff sign-in) challenge; it lives as long as that challenge,
    whose own status makes it single-use."""
    w = models.webauthn_ceremony
    found = (
        await session.execute(select(w.c.challenge).where(w.c.challenge_id == challenge_id, w.c.purpose == purpose))
    ).first()
    return None if found is None else webauthn.base64url_to_bytes(found.challenge)


async def finish_registration(
    session: AsyncSession,
    *,
    customer_id: str,
    credential: dict[str, Any],
    challenge: bytes,
    name: str | None,
    now: datetime,
    config: WebAuthnConfig,
    keyring: Keyring = CUSTOMERS,
) -> Any:
    """Verify the attestation against this ceremony's challenge, relying party and origins, and keep the passkey."""
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=config.rp_id,
            expected_origin=list(config.origins),
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyInvalid("The passkey could not be verified.", status=422) from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    p = keyring.table
    if (await session.execute(select(p.c.id).where(p.c.credential_id == credential_id))).first() is not None:
        raise PasskeyExists("This passkey is registered already.")
    transports = credential.get("response", {}).get("transports") or []
    kind = kind_of(verified.credential_device_type, verified.credential_backed_up)
    passkey_id = new_id("pky")
    await session.execute(
        p.insert().values(
            id=passkey_id,
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=",".join(str(t) for t in transports if isinstance(t, str) and _known_transport(t))[:200],
            aaguid=verified.aaguid,
            kind=kind,
            backed_up=verified.credential_backed_up,
            name=(name or "").strip()[:NAME_MAX] or "passkey",
            created_at=now,
            **{keyring.holder: customer_id},
        )
    )
    return (await session.execute(select(p).where(p.c.id == passkey_id))).one()


@asynccontextmanager
async def registered(
    database: Database,
    registration_id: str,
    *,
    holder_id: str,
    credential: dict[str, Any],
    name: str | None,
    now: datetime,
    config: WebAuthnConfig,
    keyring: Keyring = CUSTOMERS,
) -> AsyncIterator[tuple[AsyncSession, Any]]:
    """Finish the holder's registration `registration_id` with the browser's credential: its challenge used up in a
    transaction of its own (a credential that fails does not get it back), then the passkey kept in the transaction
    given to the caller with the stored row, for what must go with it (the customer told, the audit entry)."""
    async with database.transaction() as session:
        challenge = await claim_ceremony(
            session, registration_id, purpose=keyring.registration, customer_id=holder_id, now=now
        )
    async with database.transaction() as session:
        stored = await finish_registration(
            session,
            customer_id=holder_id,
            credential=credential,
            challenge=challenge,
            name=name,
            now=now,
            config=config,
            keyring=keyring,
        )
        yield session, stored


def credential_id_of(credential: dict[str, Any]) -> str:
    """The credential id the browser sent (base64url), before anything is verified; PasskeyInvalid if malformed."""
    try:
        return bytes_to_base64url(parse_authentication_credential_json(credential).raw_id)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyInvalid("The passkey could not be verified.") from exc


async def find_passkey(session: AsyncSession, credential_id: str, keyring: Keyring = CUSTOMERS) -> Any:
    p = keyring.table
    return (await session.execute(select(p).where(p.c.credential_id == credential_id).with_for_update())).first()


async def verify_assertion(
    session: AsyncSession,
    row: Any,
    *,
    credential: dict[str, Any],
    challenge: bytes,
    now: datetime,
    config: WebAuthnConfig,
    keyring: Keyring = CUSTOMERS,
) -> Asserted:
    """Verify the assertion of passkey `row` (origin, relying party, challenge, user verification, signature), move
    its counter forward, and say what it proved. A counter that did not move raises CloneSuspected."""
    try:
        # The counter is checked below, after the signature: only the key's own signature makes a clone.
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=config.rp_id,
            expected_origin=list(config.origins),
            credential_public_key=webauthn.base64url_to_bytes(row.public_key),
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyInvalid("The passkey could not be verified.") from exc
    received = verified.new_sign_count
    if (received > 0 or row.sign_count > 0) and received <= row.sign_count:
        raise CloneSuspected(row.id, keyring.holder_of(row), row.sign_count, received)
    kind = kind_of(verified.credential_device_type, verified.credential_backed_up)
    p = keyring.table
    await session.execute(
        p.update()
        .where(p.c.id == row.id)
        .values(sign_count=received, last_used_at=now, backed_up=verified.credential_backed_up, kind=kind)
    )
    at = int(now.timestamp())
    method: Method = kind
    return Asserted(row.id, keyring.holder_of(row), (Factor.of(method, at), Factor.of("user", at)))


async def owned_passkey(session: AsyncSession, passkey_id: str, *, customer_id: str) -> Any:
    return await owned_row(
        session,
        models.passkey,
        passkey_id,
        customer_id=customer_id,
        for_update=True,
        missing=PasskeyNotFound("No such passkey."),
    )


async def held_passkey(session: AsyncSession, passkey_id: str, *, holder_id: str, keyring: Keyring) -> Any:
    """The holder's own passkey `passkey_id`, locked for update; another's is PasskeyNotFound, as a missing one."""
    p = keyring.table
    query = select(p).where(p.c.id == passkey_id, p.c[keyring.holder] == holder_id).with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise PasskeyNotFound("No such passkey.")
    return row


def decoy_passkey(cipher: FieldCipher, login_id: str) -> Listed:
    """A credential id for a login id that names no account, the same each time it is asked: the options for an
    unknown id look like those of an account with one passkey (no enumeration, API.md)."""
    digest = cipher.blind_index(login_id.strip().lower(), context="passkey.decoy")
    return Listed(bytes_to_base64url(bytes.fromhex(digest)), "internal,hybrid")


def view(row: Any) -> dict[str, Any]:
    return {
        "passkey_id": row.id,
        "name": row.name,
        "kind": row.kind,
        "backed_up": row.backed_up,
        "aaguid": row.aaguid,
        "transports": [t for t in row.transports.split(",") if t],
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }
