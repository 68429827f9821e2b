"""Customer routes of identity proofing (API.md "Customer API", operation `kyc`); only the gateway forwards them."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from starlette.responses import JSONResponse

from services.kyc import jpki_cases, postal, submissions, verifications
from services.kyc.dependencies import CustomerDep, RuntimeDep
from services.kyc.schemas import (
    CustomerVerification,
    EkycRequest,
    ImageMetadata,
    JpkiProgress,
    JpkiSignature,
    JpkiSignatureAccepted,
    PostalCodeEntry,
    PostalProgress,
    PostalRequest,
    Started,
    VerificationRequest,
    VerificationState,
)
from shared.dependencies import SessionDep, only_from
from shared.problems import problem_response, problem_responses

router = APIRouter(tags=["kyc"], dependencies=[only_from("gateway")])


@router.post(
    "/v1/kyc/verifications",
    status_code=202,
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "customer_not_found"),
        (404, "not_found"),
        (409, "already_verified"),
        (409, "illegal_transition"),
        (409, "verification_in_progress"),
        (422, "invalid_images"),
        (422, "method_not_available"),
        (422, "postal_address_incomplete"),
        (422, "reason_required"),
        (502, "auth_unavailable"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def start_verification(
    body: VerificationRequest, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> Started:
    """Start identity proofing (KYC-1). eKYC: the images are checked and stored sealed, then the provider decides
    or sends the case to staff. Postal: a code is mailed to the declared address. JPKI: a challenge for the card to
    sign (422 method_not_available where no trust anchors are configured). One open case at a time (409
    verification_in_progress); none for a verified identity (409 already_verified, KYC-3)."""
    if isinstance(body, EkycRequest):
        started = await submissions.submit_ekyc(
            session,
            runtime,
            customer_id=customer_id,
            document_type=body.document_type,
            images=body.images.model_dump(),
        )
    elif isinstance(body, PostalRequest):
        started = await submissions.submit_postal(session, runtime, customer_id=customer_id)
    else:
        jpki_started = await jpki_cases.start_jpki(session, runtime, customer_id=customer_id)
        return Started(
            verification_id=jpki_started.verification_id,
            status=jpki_started.status.value,
            challenge=jpki_started.challenge,
            challenge_expires_at=jpki_started.expires_at.isoformat(),
        )
    return Started(verification_id=started.verification_id, status=started.status.value)


@router.get(
    "/v1/kyc/verifications/{verification_id}",
    # `images`, `jpki` and `postal` stay absent (not null) for a case of another method, as they always were.
    response_model_exclude_unset=True,
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "customer_not_found"),
        (404, "not_found"),
        (502, "auth_unavailable"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def view_verification(
    verification_id: str, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> CustomerVerification:
    """The customer's own case: its status and what was submitted (the images' metadata, never the images)."""
    case = await verifications.load_case(session, verification_id, customer_id=customer_id)
    answer = CustomerVerification(
        verification_id=case.id,
        method=case.method,
        status=case.status,
        document_type=case.document_type,
        created_at=case.created_at.isoformat(),
        updated_at=case.updated_at.isoformat(),
        reason=case.decision_reason if case.status == "rejected" else None,
    )
    if case.method == "ekyc":
        answer.images = [
            ImageMetadata(**verifications.image_metadata(row))
            for row in await verifications.image_rows(session, case.id)
        ]
    if case.method == "jpki":
        row = await jpki_cases.challenge_row(session, case.id)
        limit = runtime.settings.kyc_jpki_max_attempts
        awaiting = case.status == "checking" and row.used_at is None
        answer.jpki = JpkiProgress(
            challenge=row.challenge if awaiting else None,
            challenge_expires_at=row.expires_at.isoformat() if awaiting else None,
            attempts_left=max(0, limit - row.attempts) if case.status == "checking" else 0,
        )
    if case.method == "postal":
        row = await postal.code_row(session, case.id)
        limit = runtime.settings.kyc_postal_code_max_attempts
        answer.postal = PostalProgress(
            expires_at=row.expires_at.isoformat(),
            attempts_left=max(0, limit - row.attempts) if row.used_at is None else 0,
        )
    return answer


@router.post(
    "/v1/kyc/verifications/{verification_id}/postal-code",
    response_model=None,
    responses={
        200: {"model": VerificationState},
        **problem_responses(
            (401, "unauthorized"),
            (404, "customer_not_found"),
            (404, "not_found"),
            (409, "illegal_transition"),
            (409, "not_awaiting_code"),
            (410, "code_expired"),
            (422, "code_invalid"),
            (422, "reason_required"),
            (502, "auth_unavailable"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def enter_postal_code(
    verification_id: str, body: PostalCodeEntry, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """The code of the letter. Refusals are answered, not raised: the try they used (and a rejection after the last
    one or after expiry) must be committed."""
    outcome = await submissions.enter_postal_code(
        session, runtime, customer_id=customer_id, verification_id=verification_id, code=body.code
    )
    if outcome.right:
        return JSONResponse(
            VerificationState(verification_id=verification_id, status=outcome.status.value).model_dump()
        )
    if outcome.expired:
        return problem_response(
            410,
            "code_expired",
            "The postal code has expired; start identity verification again.",
            verification_id=verification_id,
            status_now=outcome.status.value,
        )
    return problem_response(
        422,
        "code_invalid",
        "The code is not right." if outcome.attempts_left else "The code is not right, and no tries are left.",
        verification_id=verification_id,
        attempts_left=outcome.attempts_left,
        status_now=outcome.status.value,
    )


def _decoded(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@router.post(
    "/v1/kyc/verifications/{verification_id}/jpki-signature",
    response_model=None,
    responses={
        200: {"model": JpkiSignatureAccepted},
        **problem_responses(
            (401, "unauthorized"),
            (404, "customer_not_found"),
            (404, "not_found"),
            (409, "illegal_transition"),
            (409, "not_awaiting_signature"),
            (422, "jpki_certificate_expired"),
            (422, "jpki_certificate_revoked"),
            (422, "jpki_challenge_mismatch"),
            (422, "jpki_malformed"),
            (422, "jpki_not_a_signing_certificate"),
            (422, "jpki_signature_invalid"),
            (422, "jpki_untrusted_chain"),
            (422, "method_not_available"),
            (422, "reason_required"),
            (502, "auth_unavailable"),
            (503, "jpki_revocation_unavailable"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def submit_jpki_signature(
    verification_id: str, body: JpkiSignature, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """The card's signature over the case's challenge, with its signing certificate and chain. Refusals are answered,
    not raised: the consumed challenge, the try and the next challenge (or the rejection) must be committed."""
    parts = [_decoded(body.signature), _decoded(body.certificate), *(_decoded(item) for item in body.chain)]
    if any(part is None for part in parts):
        return problem_response(
            422,
            "jpki_malformed",
            "The signature, certificate and chain must be base64.",
            verification_id=verification_id,
        )
    signature, certificate, *chain = [part for part in parts if part is not None]
    outcome = await jpki_cases.submit_signature(
        session,
        runtime,
        customer_id=customer_id,
        verification_id=verification_id,
        signature=signature,
        certificate=certificate,
        chain=chain,
    )
    if outcome.refused is None:
        answer = JpkiSignatureAccepted(verification_id=verification_id, status=outcome.status.value)
        if outcome.mismatched:
            answer.differs_from_declared = list(outcome.mismatched)
        # Unset: `differs_from_declared` stays absent when the card agrees with what was declared.
        return JSONResponse(answer.model_dump(exclude_unset=True))
    code = outcome.refused.code
    return problem_response(
        503 if code == "jpki_revocation_unavailable" else 422,
        code,
        outcome.refused.detail,
        verification_id=verification_id,
        status_now=outcome.status.value,
        attempts_left=outcome.attempts_left,
        challenge=outcome.challenge,
        challenge_expires_at=outcome.expires_at.isoformat() if outcome.expires_at else None,
    )
