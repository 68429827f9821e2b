"""JPKI on a verification case (KYC-1): the challenge the card signs, and the signature checked against it.

The challenge is 32 random bytes kept with the case, valid `kyc_jpki_challenge_seconds` and consumed by every
signature sent (a challenge is never verified twice). A refused signature counts as a try; with tries left a new
challenge replaces the old one, after the last the case is rejected. A stale or wrong CRL
(`jpki_revocation_unavailable`) is the operator's fault: it does not count, and a new challenge is issued.

A verified certificate states the identity (name, address, birth date; J-LIS issues it against the resident
register), so it is what gets recorded as verified. When it differs from what the customer declared, the case goes
to staff review instead of being approved: the account was opened under the declared identity, and someone else's
card must not quietly become this customer's identity.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import decisions, jpki, models, verifications
from services.kyc.cases import CUSTOMER, SYSTEM, Status, move
from services.kyc.errors import MethodNotAvailable, NotAwaitingSignature
from services.kyc.identity_match import differences
from services.kyc.runtime import KycRuntime
from services.kyc.submissions import ensure_not_verified, submitted_event
from shared.contracts.identity import DeclaredIdentity


@dataclass(frozen=True)
class JpkiStarted:
    verification_id: str
    status: Status
    challenge: str  # base64
    expires_at: datetime


@dataclass(frozen=True)
class SignatureOutcome:
    status: Status
    refused: jpki.JpkiRefused | None = None
    attempts_left: int = 0
    challenge: str | None = None  # the next challenge, after a refusal with tries left
    expires_at: datetime | None = None
    mismatched: tuple[str, ...] = ()


def _trust(runtime: KycRuntime) -> jpki.JpkiTrust:
    trust = runtime.settings.jpki_trust()
    if trust is None:
        raise MethodNotAvailable("Identity proofing by JPKI is not offered here.", method="jpki")
    return trust


async def start_jpki(session: AsyncSession, runtime: KycRuntime, *, customer_id: str) -> JpkiStarted:
    await ensure_not_verified(session, runtime, customer_id)
    _trust(runtime)
    declared = await runtime.auth.declared_identity(customer_id)
    now = runtime.clock.now()
    verification_id = await verifications.open_case(
        session,
        customer_id=customer_id,
        method="jpki",
        document_type=None,
        declared=declared,
        cipher=runtime.cipher,
        now=now,
    )
    challenge = base64.b64encode(jpki.new_challenge()).decode()
    expires_at = now + timedelta(seconds=runtime.settings.kyc_jpki_challenge_seconds)
    await session.execute(
        models.jpki_challenge.insert().values(
            verification_id=verification_id, challenge=challenge, expires_at=expires_at, used_at=None, attempts=0
        )
    )
    await verifications.apply(
        session,
        verification_id,
        move(Status.SUBMITTED, Status.CHECKING, actor=SYSTEM, at=now, reason="challenge issued for a JPKI signature"),
    )
    await submitted_event(session, runtime, customer_id, verification_id, "jpki", now)
    return JpkiStarted(verification_id, Status.CHECKING, challenge, expires_at)


async def challenge_row(session: AsyncSession, verification_id: str) -> Any:
    j = models.jpki_challenge
    return (await session.execute(select(j).where(j.c.verification_id == verification_id))).first()


async def submit_signature(
    session: AsyncSession,
    runtime: KycRuntime,
    *,
    customer_id: str,
    verification_id: str,
    signature: bytes,
    certificate: bytes,
    chain: list[bytes],
) -> SignatureOutcome:
    """Check the signature over the case's challenge; the caller commits whatever the outcome (the try, the new
    challenge, a rejection) and answers a refusal as a problem."""
    case = await verifications.load_case(session, verification_id, customer_id=customer_id, for_update=True)
    row = await challenge_row(session, verification_id) if case.method == "jpki" else None
    if row is None or case.status != Status.CHECKING.value:
        raise NotAwaitingSignature("This verification does not wait for a JPKI signature.", status_now=case.status)
    trust = _trust(runtime)
    now = runtime.clock.now()
    j = models.jpki_challenge
    await session.execute(update(j).where(j.c.verification_id == verification_id).values(used_at=now))
    try:
        if row.used_at is not None or now >= row.expires_at:
            raise jpki.JpkiRefused("jpki_challenge_mismatch", "the challenge has expired or was already used")
        challenge = base64.b64decode(row.challenge)
        identity = await anyio.to_thread.run_sync(
            lambda: jpki.verify_signature(
                challenge=challenge,
                signature=signature,
                certificate=certificate,
                chain=chain,
                trust=trust,
                now=now,
            )
        )
    except jpki.JpkiRefused as refused:
        return await _refused(session, runtime, case, row, refused, now)
    return await _verified(session, runtime, case, identity)


async def _refused(
    session: AsyncSession, runtime: KycRuntime, case: Any, row: Any, refused: jpki.JpkiRefused, now: datetime
) -> SignatureOutcome:
    counts = refused.code != "jpki_revocation_unavailable"
    attempts = row.attempts + (1 if counts else 0)
    left = max(0, runtime.settings.kyc_jpki_max_attempts - attempts)
    j = models.jpki_challenge
    if left == 0:
        await session.execute(update(j).where(j.c.verification_id == case.id).values(attempts=attempts))
        contacts = await runtime.auth.contacts(case.customer_id)
        reason = f"the JPKI signature was refused too often ({refused.code})"
        await decisions.reject(session, runtime, case, actor=SYSTEM, reason=reason, contacts=contacts)
        return SignatureOutcome(Status.REJECTED, refused, attempts_left=0)
    challenge = base64.b64encode(jpki.new_challenge()).decode()
    expires_at = now + timedelta(seconds=runtime.settings.kyc_jpki_challenge_seconds)
    await session.execute(
        update(j)
        .where(j.c.verification_id == case.id)
        .values(attempts=attempts, challenge=challenge, expires_at=expires_at, used_at=None)
    )
    return SignatureOutcome(Status.CHECKING, refused, attempts_left=left, challenge=challenge, expires_at=expires_at)


async def _verified(
    session: AsyncSession, runtime: KycRuntime, case: Any, identity: jpki.JpkiIdentity
) -> SignatureOutcome:
    declared = verifications.declared_of(case, runtime.cipher)
    proven = DeclaredIdentity(
        customer_id=case.customer_id,
        name=identity.name,
        name_kana=declared.name_kana,  # a certificate has no kana
        birth_date=identity.birth_date,
        address=identity.address,
    )
    j = models.jpki_challenge
    sealed = runtime.cipher.seal(proven.model_dump_json(), context=verifications.CERTIFICATE_CONTEXT)
    await session.execute(update(j).where(j.c.verification_id == case.id).values(certificate_identity=sealed))
    mismatched = differences(declared, proven)
    evidence = f"JPKI signature verified (certificate {identity.serial_number} of {identity.issuer})"[:300]
    if mismatched:
        reason = f"{evidence[:200]}; the certificate differs from the declared {', '.join(mismatched)}"
        await verifications.apply(
            session,
            case.id,
            move(Status.CHECKING, Status.MANUAL_REVIEW, actor=SYSTEM, at=runtime.clock.now(), reason=reason),
        )
        return SignatureOutcome(Status.MANUAL_REVIEW, mismatched=tuple(mismatched))
    contacts = await runtime.auth.contacts(case.customer_id)
    outcome = await decisions.approve(session, runtime, case, actor=CUSTOMER, reason=evidence, contacts=contacts)
    return SignatureOutcome(outcome)
