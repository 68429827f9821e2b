"""Customer routes of identity proofing (API.md "Customer API", operation `kyc`); only the gateway forwards them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from services.kyc import postal, submissions, verifications
from services.kyc.dependencies import CustomerDep, RuntimeDep
from services.kyc.errors import MethodNotAvailable
from services.kyc.schemas import EkycRequest, PostalCodeEntry, PostalRequest, Started, VerificationRequest
from shared.dependencies import SessionDep, only_from
from shared.problems import problem_response

router = APIRouter(tags=["kyc"], dependencies=[only_from("gateway")])


@router.post("/v1/kyc/verifications", status_code=202)
async def start_verification(
    body: VerificationRequest, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> Started:
    """Start identity proofing (KYC-1). eKYC: the images are checked and stored sealed, then the provider decides
    or sends the case to staff. Postal: a code is mailed to the declared address. One open case at a time (409)."""
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
        raise MethodNotAvailable("Identity proofing by JPKI is not offered yet.", method="jpki")
    return Started(verification_id=started.verification_id, status=started.status.value)


@router.get("/v1/kyc/verifications/{verification_id}")
async def view_verification(
    verification_id: str, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """The customer's own case: its status and what was submitted (the images' metadata, never the images)."""
    case = await verifications.load_case(session, verification_id, customer_id=customer_id)
    answer: dict[str, Any] = {
        "verification_id": case.id,
        "method": case.method,
        "status": case.status,
        "document_type": case.document_type,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "reason": case.decision_reason if case.status == "rejected" else None,
    }
    if case.method == "ekyc":
        answer["images"] = [
            verifications.image_metadata(row) for row in await verifications.image_rows(session, case.id)
        ]
    if case.method == "postal":
        row = await postal.code_row(session, case.id)
        limit = runtime.settings.kyc_postal_code_max_attempts
        answer["postal"] = {
            "expires_at": row.expires_at.isoformat(),
            "attempts_left": max(0, limit - row.attempts) if row.used_at is None else 0,
        }
    return answer


@router.post("/v1/kyc/verifications/{verification_id}/postal-code", response_model=None)
async def enter_postal_code(
    verification_id: str, body: PostalCodeEntry, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> JSONResponse:
    """The code of the letter. Refusals are answered, not raised: the try they used (and a rejection after the last
    one or after expiry) must be committed."""
    outcome = await submissions.enter_postal_code(
        session, runtime, customer_id=customer_id, verification_id=verification_id, code=body.code
    )
    if outcome.right:
        return JSONResponse({"verification_id": verification_id, "status": outcome.status.value})
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
