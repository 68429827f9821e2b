"""A customer's side of identity proofing: starting a case by eKYC or by post, and entering the mailed code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import decisions, postal, verifications
from services.kyc.cases import SYSTEM, Status, move
from services.kyc.errors import AlreadyVerified, NotAwaitingCode
from services.kyc.images import check_images
from services.kyc.providers import EkycSubmission
from services.kyc.runtime import KycRuntime
from shared.contracts.notifications import EventType, KycPostalCodeData
from shared.events import record_event
from shared.notifications import send_notification


@dataclass(frozen=True)
class Started:
    verification_id: str
    status: Status


async def ensure_not_verified(session: AsyncSession, runtime: KycRuntime, customer_id: str) -> None:
    """KYC-3: a verified identity is not proven a second time. auth's status decides (a change of a verified
    attribute makes it reverification_required, and then a new case is the way back); an approval that auth has
    not heard of yet (the relay is behind) counts as verified too."""
    status = await runtime.auth.kyc_status(customer_id)
    if status.status == "verified" or (
        status.status != "reverification_required" and await verifications.relay_pending_verified(session, customer_id)
    ):
        raise AlreadyVerified("The identity is already verified.", kyc_status="verified")


async def submit_ekyc(
    session: AsyncSession, runtime: KycRuntime, *, customer_id: str, document_type: str, images: dict[str, str]
) -> Started:
    await ensure_not_verified(session, runtime, customer_id)
    # Every image is checked before anything is stored or anyone is asked: a bad one refuses the whole submission.
    limits = runtime.image_limits
    checked = await anyio.to_thread.run_sync(lambda: check_images(images, limits))
    declared = await runtime.auth.declared_identity(customer_id)
    now = runtime.clock.now()
    verification_id = await verifications.open_case(
        session,
        customer_id=customer_id,
        method="ekyc",
        document_type=document_type,
        declared=declared,
        cipher=runtime.cipher,
        now=now,
    )
    await verifications.store_images(session, verification_id, checked, cipher=runtime.cipher, now=now)
    reason = f"images well-formed; sent to the {runtime.provider.name} provider"
    await verifications.apply(
        session, verification_id, move(Status.SUBMITTED, Status.CHECKING, actor=SYSTEM, at=now, reason=reason)
    )
    await submitted_event(session, runtime, customer_id, verification_id, "ekyc", now, document_type=document_type)
    verdict = await runtime.provider.assess(EkycSubmission(verification_id, document_type, tuple(checked), declared))
    case = await verifications.load_case(session, verification_id)
    if verdict.outcome == "manual_review":
        await verifications.apply(
            session,
            verification_id,
            move(Status.CHECKING, Status.MANUAL_REVIEW, actor=SYSTEM, at=runtime.clock.now(), reason=verdict.reason),
        )
        return Started(verification_id, Status.MANUAL_REVIEW)
    contacts = await runtime.auth.contacts(customer_id)
    if verdict.outcome == "approved":
        outcome = await decisions.approve(
            session, runtime, case, actor=SYSTEM, reason=verdict.reason, contacts=contacts
        )
        return Started(verification_id, outcome)
    await decisions.reject(session, runtime, case, actor=SYSTEM, reason=verdict.reason, contacts=contacts)
    return Started(verification_id, Status.REJECTED)


async def submit_postal(session: AsyncSession, runtime: KycRuntime, *, customer_id: str) -> Started:
    await ensure_not_verified(session, runtime, customer_id)
    declared = await runtime.auth.declared_identity(customer_id)
    address = postal.postal_address(declared.address)
    now = runtime.clock.now()
    verification_id = await verifications.open_case(
        session,
        customer_id=customer_id,
        method="postal",
        document_type=None,
        declared=declared,
        cipher=runtime.cipher,
        now=now,
    )
    code = postal.new_code()
    expires_at = await postal.store_code(
        session, verification_id, code, now=now, valid_days=runtime.settings.kyc_postal_code_days
    )
    await send_notification(
        runtime.outbox,
        session,
        key=f"kyc_postal_code:{verification_id}",
        event_type=EventType.KYC_POSTAL_CODE,
        customer_id=customer_id,
        data=KycPostalCodeData.model_construct(
            code=code,
            name=declared.name,
            postal_code=address.postal_code,
            address=address.address,
            expires_at=expires_at,
        ),
    )
    await verifications.apply(
        session,
        verification_id,
        move(Status.SUBMITTED, Status.CHECKING, actor=SYSTEM, at=now, reason="code mailed to the declared address"),
    )
    await submitted_event(session, runtime, customer_id, verification_id, "postal", now)
    return Started(verification_id, Status.CHECKING)


@dataclass(frozen=True)
class CodeOutcome:
    status: Status
    right: bool
    expired: bool
    attempts_left: int


async def enter_postal_code(
    session: AsyncSession, runtime: KycRuntime, *, customer_id: str, verification_id: str, code: str
) -> CodeOutcome:
    """The code from the letter. A wrong one uses a try; the last wrong try, or a try after the code expired,
    rejects the case (the caller commits that and answers the refusal)."""
    case = await verifications.load_case(session, verification_id, customer_id=customer_id, for_update=True)
    row = await postal.code_row(session, verification_id) if case.method == "postal" else None
    if row is None or case.status != Status.CHECKING.value:
        raise NotAwaitingCode("This verification does not wait for a postal code.", status_now=case.status)
    now = runtime.clock.now()
    limit = runtime.settings.kyc_postal_code_max_attempts
    if now >= row.expires_at:
        contacts = await runtime.auth.contacts(customer_id)
        await decisions.reject(
            session,
            runtime,
            case,
            actor=SYSTEM,
            reason="the postal code expired before it was entered",
            contacts=contacts,
        )
        return CodeOutcome(Status.REJECTED, right=False, expired=True, attempts_left=0)
    attempt = await postal.try_code(session, row, code, now=now, max_attempts=limit)
    if attempt.right:
        contacts = await runtime.auth.contacts(customer_id)
        outcome = await decisions.approve(
            session, runtime, case, actor="customer", reason="postal code entered", contacts=contacts
        )
        return CodeOutcome(outcome, right=True, expired=False, attempts_left=attempt.attempts_left)
    if attempt.attempts_left == 0:
        contacts = await runtime.auth.contacts(customer_id)
        await decisions.reject(
            session,
            runtime,
            case,
            actor=SYSTEM,
            reason="the postal code was entered wrongly too often",
            contacts=contacts,
        )
        return CodeOutcome(Status.REJECTED, right=False, expired=False, attempts_left=0)
    return CodeOutcome(Status.CHECKING, right=False, expired=False, attempts_left=attempt.attempts_left)


async def submitted_event(
    session: AsyncSession,
    runtime: KycRuntime,
    customer_id: str,
    verification_id: str,
    method: str,
    now: datetime,
    **data: str,
) -> None:
    await record_event(
        runtime.outbox,
        session,
        type="kyc_submitted",
        occurred_at=now,
        customer_id=customer_id,
        data={"verification_id": verification_id, "method": method, **data},
        event_id=f"evt_kycs_{verification_id.partition('_')[2]}",
    )
