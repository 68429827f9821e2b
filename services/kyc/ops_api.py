"""Staff routes of kyc (API.md "Ops API"): the manual-review queue. Every read and decision is in the audit trail
(SEC-6); the role is checked again here (DATA-3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import decisions, verifications
from services.kyc.cases import Status
from services.kyc.dependencies import ReviewerDep, RuntimeDep
from services.kyc.errors import NotInReview
from services.kyc.runtime import KycRuntime
from services.kyc.schemas import (
    Decision,
    DeclaredIdentity,
    QueuedVerification,
    Rejection,
    ReviewedImage,
    StaffVerification,
    Transition,
    VerificationQueue,
    VerificationState,
)
from shared.audit import Actor, audit_entry, record_audit
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.identity import ServiceIdentity
from shared.masking import mask_address
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_responses
from shared.roles import refuse_outsourced

router = APIRouter(prefix="/v1/ops/kyc", tags=["ops"], dependencies=[only_from("gateway")])

StatusQuery = Annotated[Status | None, Query()]


def _mask_name(name: str) -> str:
    return name[:1] + "＊" * max(1, len(name.replace(" ", "").replace("　", "")) - 1)


async def _audit(
    session: AsyncSession,
    runtime: KycRuntime,
    identity: ServiceIdentity,
    action: str,
    target_id: str,
    detail: dict[str, Any],
) -> None:
    entry = audit_entry(
        Actor.of(identity),
        service="kyc",
        action=action,
        target_type="verification",
        target_id=target_id,
        at=runtime.clock.now(),
        detail=detail,
    )
    await record_audit(runtime.outbox, session, entry)


@router.get(
    "/verifications",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "customer_not_found"),
        (502, "auth_unavailable"),
    ),
)
async def list_verifications(
    reviewer: ReviewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
    status: StatusQuery = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> VerificationQueue:
    """The queue by status, oldest first; `after` is the `next` of the previous page."""
    rows = await verifications.list_cases(session, status=status.value if status else None, after=after, limit=limit)
    detail = {
        "status": status.value if status else None,
        "count": len(rows),
        "customers": sorted({r.customer_id for r in rows}),  # whose cases were shown (SEC-6)
    }
    await _audit(session, runtime, identity, "kyc.list", "*", detail)
    return VerificationQueue(
        verifications=[
            QueuedVerification(
                verification_id=r.id,
                customer_id=r.customer_id,
                method=r.method,
                status=r.status,
                document_type=r.document_type,
                created_at=r.created_at.isoformat(),
                updated_at=r.updated_at.isoformat(),
            )
            for r in rows
        ],
        next=rows[-1].id if len(rows) == limit else None,
    )


@router.get(
    "/verifications/{verification_id}",
    # An image's `content` stays absent (not null) without `images=true`, as it always was.
    response_model_exclude_unset=True,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (403, "outsourced_restricted"),
        (404, "customer_not_found"),
        (404, "not_found"),
        (502, "auth_unavailable"),
    ),
)
async def view_verification(
    verification_id: str,
    reviewer: ReviewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
    images: bool = False,
) -> StaffVerification:
    """A case with the declared identity masked (DATA-1) and the images' metadata. `images=true` shows the images
    and the declared identity in full, to `kyc_image_view_role` and above only (supervisor by default)."""
    allowed = runtime.settings.kyc_image_view_role
    if images and not reviewer.may(allowed):
        raise Problem(f"Viewing the images needs the {allowed} role.", code="forbidden", status=403)
    if images:
        refuse_outsourced(identity, "see identity documents or full values")
    case = await verifications.load_case(session, verification_id)
    declared = verifications.declared_of(case, runtime.cipher)
    rows = await verifications.image_rows(session, case.id)
    shown = []
    for row in rows:
        item = ReviewedImage(**verifications.image_metadata(row))
        if images:
            item.content = runtime.cipher.open(row.content, context=verifications.IMAGE_CONTEXT)
        shown.append(item)
    await _audit(
        session,
        runtime,
        identity,
        "kyc.images_view" if images else "kyc.view",
        case.id,
        {"customer_id": case.customer_id, "images": images},
    )
    return StaffVerification(
        verification_id=case.id,
        customer_id=case.customer_id,
        method=case.method,
        status=case.status,
        document_type=case.document_type,
        created_at=case.created_at.isoformat(),
        updated_at=case.updated_at.isoformat(),
        decided_by=case.decided_by,
        decision_reason=case.decision_reason,
        declared=DeclaredIdentity(
            name=declared.name if images else _mask_name(declared.name),
            name_kana=declared.name_kana if images else _mask_name(declared.name_kana),
            birth_date=declared.birth_date.isoformat() if images else f"{declared.birth_date.year}-**-**",
            address=declared.address if images else mask_address(declared.address),
        ),
        images=shown,
        transitions=[Transition.model_validate(t) for t in await verifications.transitions_of(session, case.id)],
    )


async def _in_review(session: AsyncSession, verification_id: str) -> Any:
    case = await verifications.load_case(session, verification_id, for_update=True)
    if case.status != Status.MANUAL_REVIEW.value:
        raise NotInReview("Only a verification in manual review can be decided by staff.", status_now=case.status)
    return case


@router.post(
    "/verifications/{verification_id}/approve",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "customer_not_found"),
        (404, "not_found"),
        (409, "illegal_transition"),
        (409, "verification_not_in_review"),
        (422, "reason_required"),
        (502, "auth_unavailable"),
    ),
)
async def approve(
    verification_id: str,
    body: Decision,
    reviewer: ReviewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
) -> VerificationState:
    case = await _in_review(session, verification_id)
    contacts = await runtime.auth.contacts(case.customer_id)
    outcome = await decisions.approve(
        session, runtime, case, actor=reviewer.staff_id, reason=body.reason, contacts=contacts
    )
    await _audit(
        session, runtime, identity, "kyc.approve", case.id, {"customer_id": case.customer_id, "outcome": outcome.value}
    )
    return VerificationState(verification_id=case.id, status=outcome.value)


@router.post(
    "/verifications/{verification_id}/reject",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "customer_not_found"),
        (404, "not_found"),
        (409, "illegal_transition"),
        (409, "verification_not_in_review"),
        (422, "reason_required"),
        (502, "auth_unavailable"),
    ),
)
async def reject(
    verification_id: str,
    body: Rejection,
    reviewer: ReviewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
) -> VerificationState:
    case = await _in_review(session, verification_id)
    contacts = await runtime.auth.contacts(case.customer_id)
    await decisions.reject(session, runtime, case, actor=reviewer.staff_id, reason=body.reason, contacts=contacts)
    await _audit(session, runtime, identity, "kyc.reject", case.id, {"customer_id": case.customer_id})
    return VerificationState(verification_id=case.id, status=Status.REJECTED.value)
