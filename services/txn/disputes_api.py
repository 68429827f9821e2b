"""Routes of disputes and victim relief (INC-6, INC-7): the customer's own disputes, and the staff queue where a
dispute is opened for a caller, the victim's declaration recorded and the relief policy applied or the dispute
rejected. Every staff read and action is audited (SEC-6); roles are checked again here (DATA-3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import dispute_decisions, disputes
from services.txn.dependencies import AnalystDep, CustomerDep, RuntimeDep, SupervisorDep
from services.txn.disputes import Channel, Status
from services.txn.relief import ReliefPolicy
from services.txn.runtime import TxnRuntime
from services.txn.schemas import (
    DeclarationRequest,
    DisputedTransactionView,
    DisputeList,
    DisputeRequest,
    DisputeStep,
    DisputeSummary,
    DisputeView,
    RejectionRequest,
    ReliefPolicyView,
    ReliefRequest,
    ReliefRuleView,
    StaffDisputeRequest,
    StaffDisputeStep,
    StaffDisputeView,
)
from shared.audit import Actor, audit_entry, record_audit
from shared.dependencies import SessionDep, only_from
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_responses
from shared.roles import has_role

router = APIRouter(prefix="/v1/me/disputes", tags=["disputes"], dependencies=[only_from("gateway")])
ops_router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[only_from("gateway")])

IdQuery = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,8}_[0-9a-z]{26}$")]


# -- the customer's own ------------------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "not_found"),
        (409, "already_declared"),
        (409, "already_disputed"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (422, "not_disputable"),
        (422, "reason_required"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def open_dispute(
    body: DisputeRequest, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> DisputeView:
    """Report transactions that were not the customer's. Another customer's transaction answers 404, as a missing
    one does."""
    postings = await disputes.disputable_postings(session, customer_id, body.transaction_ids, runtime.relief_policy)
    dispute_id = await dispute_decisions.open_dispute(
        session,
        runtime,
        customer_id=customer_id,
        postings=postings,
        description=body.description,
        declares_not_liable=body.declares_not_liable,
        channel=Channel.APP,
        actor=disputes.CUSTOMER,
        note=None,
        contacts=await runtime.auth.contacts(customer_id),
    )
    return await _customer_view(session, runtime, await disputes.load(session, dispute_id))


@router.get(
    "", responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout"))
)
async def list_own_disputes(
    customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep, after: IdQuery = None
) -> DisputeList:
    rows = await disputes.list_disputes(session, customer_id=customer_id, after=after, limit=50)
    return await _summaries(session, runtime, rows, limit=50)


@router.get(
    "/{dispute_id}",
    responses=problem_responses(
        (401, "unauthorized"), (404, "not_found"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def view_own_dispute(
    dispute_id: str, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> DisputeView:
    return await _customer_view(session, runtime, await disputes.load(session, dispute_id, customer_id=customer_id))


@router.post(
    "/{dispute_id}/declaration",
    responses=problem_responses(
        (401, "unauthorized"),
        (404, "not_found"),
        (409, "already_declared"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (422, "reason_required"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def declare_own(
    dispute_id: str, customer_id: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> DisputeView:
    """The customer declares they will not bear the debt of a dispute they opened without declaring it (INC-7)."""
    dispute = await disputes.load(session, dispute_id, customer_id=customer_id, for_update=True)
    await dispute_decisions.declare(
        session, runtime, dispute.id, Status(dispute.status), actor=disputes.CUSTOMER, note=None
    )
    return await _customer_view(session, runtime, await disputes.load(session, dispute_id))


# -- staff -------------------------------------------------------------------------------------------------------------


@ops_router.post(
    "/disputes",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
        (409, "already_declared"),
        (409, "already_disputed"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (422, "not_disputable"),
        (422, "reason_required"),
    ),
)
async def open_for_customer(
    body: StaffDisputeRequest, actor: AnalystDep, session: SessionDep, runtime: RuntimeDep
) -> StaffDisputeView:
    """A dispute opened at the consultation desk for a victim who called or came in (the emergency contact route,
    INC-6 (a)): their phone or their sign-in may be in the fraudster's hands."""
    contacts = await runtime.auth.contacts(body.customer_id)  # 404 for a customer auth does not know
    postings = await disputes.disputable_postings(
        session, body.customer_id, body.transaction_ids, runtime.relief_policy
    )
    dispute_id = await dispute_decisions.open_dispute(
        session,
        runtime,
        customer_id=body.customer_id,
        postings=postings,
        description=body.description,
        declares_not_liable=body.declares_not_liable,
        channel=Channel.DESK,
        actor=actor.staff_id,
        note=body.note,
        contacts=contacts,
    )
    await _audit(
        session,
        runtime,
        actor,
        "dispute.open",
        dispute_id,
        {"customer_id": body.customer_id, "transaction_ids": body.transaction_ids, "channel": Channel.DESK.value},
    )
    return await _staff_view(session, runtime, await disputes.load(session, dispute_id))


@ops_router.get(
    "/disputes",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_queue(
    actor: AnalystDep,
    session: SessionDep,
    runtime: RuntimeDep,
    status: Annotated[Status | None, Query()] = None,
    overdue: bool = False,
    customer_id: IdQuery = None,
    after: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> DisputeList:
    """The queue, oldest first. `overdue=true`: only the declared ones still undecided past the policy's target."""
    now = runtime.clock.now()
    rows = await disputes.list_disputes(
        session,
        customer_id=customer_id,
        status=status,
        overdue_at=now if overdue else None,
        after=after,
        limit=limit,
    )
    filters = {"status": status.value if status else None, "overdue": overdue, "customer_id": customer_id}
    shown = sorted({row.customer_id for row in rows})  # whose disputes were shown (SEC-6)
    await _audit(session, runtime, actor, "dispute.list", "*", {**filters, "count": len(rows), "customers": shown})
    return await _summaries(session, runtime, rows, limit=limit)


@ops_router.get(
    "/disputes/{dispute_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def view_dispute(
    dispute_id: str, actor: AnalystDep, session: SessionDep, runtime: RuntimeDep
) -> StaffDisputeView:
    dispute = await disputes.load(session, dispute_id)
    await _audit(session, runtime, actor, "dispute.view", dispute.id, {"customer_id": dispute.customer_id})
    return await _staff_view(session, runtime, dispute)


@ops_router.post(
    "/disputes/{dispute_id}/declaration",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
        (409, "already_declared"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (422, "reason_required"),
    ),
)
async def record_declaration(
    dispute_id: str, body: DeclarationRequest, actor: AnalystDep, session: SessionDep, runtime: RuntimeDep
) -> StaffDisputeView:
    """The victim's declaration, taken by staff (by phone, at the desk): the policy's clock starts now (INC-7)."""
    dispute = await disputes.load(session, dispute_id, for_update=True)
    await dispute_decisions.declare(
        session, runtime, dispute.id, Status(dispute.status), actor=actor.staff_id, note=body.note
    )
    await _audit(session, runtime, actor, "dispute.declaration", dispute.id, {"customer_id": dispute.customer_id})
    return await _staff_view(session, runtime, await disputes.load(session, dispute_id))


@ops_router.post(
    "/disputes/{dispute_id}/relief",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
        (409, "already_declared"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (409, "not_relievable"),
        (422, "reason_required"),
    ),
)
async def apply_relief(
    dispute_id: str, body: ReliefRequest, actor: SupervisorDep, session: SessionDep, runtime: RuntimeDep
) -> StaffDisputeView:
    """Apply the relief policy: compensating entries, the credit information the fraud caused deleted at the bureau
    (or left `deletion_requested` for a resend when it does not answer), the customer told."""
    _require_decision_role(actor, runtime.relief_policy)
    dispute = await disputes.load(session, dispute_id, for_update=True)
    contacts = await runtime.auth.contacts(dispute.customer_id)
    outcome = await dispute_decisions.relieve(
        session, runtime, dispute, actor=actor.staff_id, note=body.note, contacts=contacts
    )
    detail = {
        "customer_id": dispute.customer_id,
        "amount": outcome.amount,
        "policy_version": runtime.relief_policy.version,
        "relief_postings": [r.relief_posting_id for r in outcome.relieved],
        "credit_information_deleted": outcome.credit_information_deleted,
    }
    await _audit(session, runtime, actor, "dispute.relief", dispute.id, detail)
    return await _staff_view(session, runtime, await disputes.load(session, dispute_id))


@ops_router.post(
    "/disputes/{dispute_id}/reject",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
        (409, "already_declared"),
        (409, "declaration_required"),
        (409, "illegal_transition"),
        (422, "reason_required"),
    ),
)
async def reject_dispute(
    dispute_id: str, body: RejectionRequest, actor: SupervisorDep, session: SessionDep, runtime: RuntimeDep
) -> StaffDisputeView:
    _require_decision_role(actor, runtime.relief_policy)
    dispute = await disputes.load(session, dispute_id, for_update=True)
    contacts = await runtime.auth.contacts(dispute.customer_id)
    await dispute_decisions.reject(
        session, runtime, dispute, actor=actor.staff_id, reason=body.reason, contacts=contacts
    )
    await _audit(session, runtime, actor, "dispute.reject", dispute.id, {"customer_id": dispute.customer_id})
    return await _staff_view(session, runtime, await disputes.load(session, dispute_id))


# -- shaping -----------------------------------------------------------------------------------------------------------


def _require_decision_role(actor: Actor, policy: ReliefPolicy) -> None:
    """The policy names who decides; the route's own role is only the floor the gateway checks."""
    if not has_role(actor.role, policy.decision_role):
        raise Problem(f"Deciding a dispute needs the {policy.decision_role} role.", code="forbidden", status=403)


async def _audit(
    session: AsyncSession,
    runtime: TxnRuntime,
    actor: Actor,
    action: str,
    target_id: str,
    detail: dict[str, Any],
    target_type: str = "dispute",
) -> None:
    entry = audit_entry(
        actor,
        service="txn",
        action=action,
        target_type=target_type,
        target_id=target_id,
        at=runtime.clock.now(),
        detail=detail,
    )
    await record_audit(runtime.outbox, session, entry)


async def _transactions(session: AsyncSession, dispute_id: str) -> list[DisputedTransactionView]:
    return [
        DisputedTransactionView(
            transaction_id=row.posting_id,
            kind=row.kind,
            amount=row.amount,
            at=row.created_at,
            relieved_amount=row.relieved_amount,
            relief_transaction_id=row.relief_posting_id,
        )
        for row in await disputes.transactions_of(session, dispute_id)
    ]


def _policy_view(policy: ReliefPolicy) -> ReliefPolicyView:
    return ReliefPolicyView(
        version=policy.version,
        target_days=policy.target_days,
        rules=[
            ReliefRuleView(
                kind=kind,
                relief=rule.relief,
                victim_bears=rule.victim_bears,
                explanation_ja=rule.explanation_ja,
                explanation_en=rule.explanation_en,
            )
            for kind, rule in policy.kinds.items()
        ],
        exception_ja=policy.exception_ja,
        exception_en=policy.exception_en,
    )


async def _customer_view(session: AsyncSession, runtime: TxnRuntime, dispute: Any) -> DisputeView:
    transactions = await _transactions(session, dispute.id)
    steps = await disputes.transitions_of(session, dispute.id)
    return DisputeView(
        dispute_id=dispute.id,
        status=dispute.status,
        channel=dispute.channel,
        description=disputes.description_of(dispute, runtime.cipher),
        declared_not_liable=dispute.declared_at is not None,
        declared_at=dispute.declared_at,
        relief_due_at=dispute.relief_due_at,
        amount=sum(t.amount for t in transactions),
        relieved_amount=dispute.relieved_amount,
        decision_reason=dispute.decision_reason if dispute.status == Status.REJECTED.value else None,
        transactions=transactions,
        history=[DisputeStep(status=s.to_status, at=s.at) for s in steps],
        relief_policy=_policy_view(runtime.relief_policy),
        created_at=dispute.created_at,
        decided_at=dispute.decided_at,
    )


async def _staff_view(session: AsyncSession, runtime: TxnRuntime, dispute: Any) -> StaffDisputeView:
    transactions = await _transactions(session, dispute.id)
    steps = await disputes.transitions_of(session, dispute.id)
    return StaffDisputeView(
        dispute_id=dispute.id,
        customer_id=dispute.customer_id,
        status=dispute.status,
        channel=dispute.channel,
        opened_by=dispute.opened_by,
        description=disputes.description_of(dispute, runtime.cipher),
        declared_at=dispute.declared_at,
        declared_by=dispute.declared_by,
        relief_due_at=dispute.relief_due_at,
        overdue=disputes.is_overdue(dispute, runtime.clock.now()),
        amount=sum(t.amount for t in transactions),
        relieved_amount=dispute.relieved_amount,
        policy_version=dispute.policy_version,
        decided_by=dispute.decided_by,
        decision_reason=dispute.decision_reason,
        decided_at=dispute.decided_at,
        transactions=transactions,
        transitions=[
            StaffDisputeStep(from_status=s.from_status, to_status=s.to_status, actor=s.actor, reason=s.reason, at=s.at)
            for s in steps
        ],
        credit_information_deletion_requested=await dispute_decisions.deletion_requested(session, dispute.id),
        created_at=dispute.created_at,
    )


async def _summaries(session: AsyncSession, runtime: TxnRuntime, rows: list[Any], *, limit: int) -> DisputeList:
    now = runtime.clock.now()
    totals = await disputes.amounts_of(session, [row.id for row in rows])
    return DisputeList(
        disputes=[
            DisputeSummary(
                dispute_id=row.id,
                customer_id=row.customer_id,
                status=row.status,
                channel=row.channel,
                amount=totals.get(row.id, 0),
                declared_at=row.declared_at,
                relief_due_at=row.relief_due_at,
                overdue=disputes.is_overdue(row, now),
                created_at=row.created_at,
            )
            for row in rows
        ],
        next=rows[-1].id if len(rows) == limit else None,
    )
