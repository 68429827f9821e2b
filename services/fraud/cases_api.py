"""Staff routes for cases (RESP-1/3) and rule suppressions (MON-3), reached through the gateway's /v1/ops/fraud/...

Every read and change is audited (SEC-6); the role is checked here again although the gateway checked it first.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import case_work, cases
from services.fraud.device_digests import as_digest, device_digest
from services.fraud.runtime import fraud_runtime
from shared.audit import audit_staff
from shared.database import on_commit
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses
from shared.roles import require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal/ops", tags=["ops"])

CaseId = Annotated[str, Path(max_length=40)]
SuppressionId = Annotated[str, Path(max_length=40)]


class CaseView(BaseModel):
    id: str
    opened_at: datetime
    status: Literal["open", "in_review", "escalated", "resolved"]
    score_id: str | None
    operation: str
    customer_id: str | None
    device_id: str | None = Field(description="auth's device id of the scored session, when known")
    ip: str | None
    score: int
    reasons: list[dict[str, Any]]
    actions: list[dict[str, Any]] = Field(description="what was done on detection")
    label: Literal["fraud", "legit"] | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    assignee: str | None = Field(description="the staff id working the case")
    assigned_at: datetime | None
    assigned_by: str | None

    @classmethod
    def of(cls, case: cases.Case) -> CaseView:
        return cls(**asdict(case))


class EntityView(BaseModel):
    value: str
    events: int = Field(description="the case customer's events with it in the window")
    first_seen: datetime | None
    last_seen: datetime | None
    customers: int = Field(description="distinct customers seen with it in the window")


class LinkedCustomerView(BaseModel):
    customer_id: str
    via: list[str]
    events: int
    first_seen: datetime
    last_seen: datetime


class LinksView(BaseModel):
    entities: list[EntityView]
    customers: list[LinkedCustomerView] = Field(description="other customers on those entities, latest first")
    truncated: bool


class LinkedView(BaseModel):
    since: datetime
    until: datetime
    devices: LinksView
    ips: LinksView
    networks: LinksView
    bank_accounts: LinksView


class CommentView(BaseModel):
    id: str
    at: datetime
    by: str = Field(description="the staff id who wrote it")
    text: str

    @classmethod
    def of(cls, comment: case_work.Comment) -> CommentView:
        return cls.model_validate(asdict(comment))


class CaseDetail(CaseView):
    linked: LinkedView
    comments: list[CommentView] = Field(description="oldest first; append-only")


class CaseList(BaseModel):
    cases: list[CaseView]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page; None: this was the last")


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: str | None = Field(default=None, max_length=40, description="omitted: the caller takes the case")


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["in_review", "escalated"] = Field(description="resolved only through /resolve, with a label")


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal["fraud", "legit"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1, max_length=40)
    entity_type: Literal["customer", "device", "ip"]
    entity_value: str = Field(
        min_length=1, max_length=200, description="for a device: its digest as the ops views show it (or its key)"
    )
    until: AwareDatetime
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class SuppressionView(BaseModel):
    id: str
    rule_id: str
    entity_type: str
    entity_value: str
    until: datetime
    note: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    in_force: bool

    @classmethod
    def of(cls, suppression: cases.Suppression, now: datetime) -> SuppressionView:
        view = cls(**asdict(suppression), in_force=suppression.in_force(now))
        if suppression.entity_type == "device":  # by digest, never the key (device_digests.py)
            view.entity_value = as_digest(suppression.entity_value)
        return view


class SuppressionList(BaseModel):
    suppressions: list[SuppressionView]


# ---- cases ---------------------------------------------------------------------------------------------------------


@router.get(
    "/cases",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "cursor_invalid"),
        (422, "validation_failed"),
    ),
)
async def list_cases(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    status: Literal["open", "in_review", "escalated", "resolved"] | None = None,
    assignee: Annotated[str | None, Query(max_length=40, description="a staff id")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CaseList:
    """The case queue, newest first, one page at a time (analyst; the read is audited)."""
    require_staff(identity, "analyst")
    found, next_cursor = await case_work.list_cases(
        session, status=status, assignee=assignee, cursor=cursor, limit=limit
    )
    detail = {
        "filters": {"status": status, "assignee": assignee, "limit": limit},
        "count": len(found),
        "customers": sorted({case.customer_id for case in found if case.customer_id}),
    }
    await _audit(session, state, identity, action="fraud_case.list", target_id="*", detail=detail)
    return CaseList(cases=[CaseView.of(case) for case in found], next_cursor=next_cursor)


@router.get(
    "/cases/{case_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "case_not_found"),
    ),
)
async def view_case(case_id: CaseId, session: SessionDep, state: StateDep, identity: IdentityDep) -> CaseDetail:
    """A case with the entities linked to it: devices, IPs, networks and bank accounts around its customer, and the
    other customers on them (analyst; the read is audited with every customer it showed)."""
    require_staff(identity, "analyst")
    case = await cases.get_case(session, case_id)
    linked = await cases.linked_entities(session, case, now=state.clock.now())
    shown = sorted({*linked.customer_ids(), *([case.customer_id] if case.customer_id else [])})
    await _audit(session, state, identity, action="fraud_case.view", target_id=case.id, detail={"customers": shown})
    kinds = {kind: _links_view(kind, asdict(links)) for kind, links in linked.kinds.items()}
    comments = [CommentView.of(comment) for comment in await case_work.comments_of(session, case.id)]
    return CaseDetail(
        **asdict(case), linked=LinkedView(since=linked.since, until=linked.until, **kinds), comments=comments
    )


def _links_view(kind: str, links: dict[str, Any]) -> LinksView:
    """Devices are shown by digest, never by key (device_digests.py), in the entities and in each customer's `via`."""
    if kind == "devices":
        for entity in links["entities"]:
            entity["value"] = device_digest(entity["value"])
        for customer in links["customers"]:
            customer["via"] = sorted(device_digest(value) for value in customer["via"])
    return LinksView.model_validate(links)


@router.post(
    "/cases/{case_id}/resolve",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "case_not_found"),
        (409, "case_already_resolved"),
    ),
)
async def resolve_case(
    case_id: CaseId, body: Resolution, session: SessionDep, state: StateDep, identity: IdentityDep
) -> CaseView:
    """Close a case with its label (fraud | legit) and a note; a case is resolved once (409 after)."""
    staff_id = require_staff(identity, "analyst")
    resolved = await cases.resolve_case(
        session, case_id=case_id, label=body.label, note=body.note, by=staff_id, now=state.clock.now()
    )
    detail = {"label": resolved.label, "customers": [resolved.customer_id] if resolved.customer_id else []}
    await _audit(session, state, identity, action="fraud_case.resolve", target_id=resolved.id, detail=detail)
    return CaseView.of(resolved)


@router.post(
    "/cases/{case_id}/assign",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (403, "assignment_forbidden"),
        (404, "case_not_found"),
        (409, "case_already_resolved"),
        (422, "validation_failed"),
    ),
)
async def assign_case(
    case_id: CaseId, body: Assignment, session: SessionDep, state: StateDep, identity: IdentityDep
) -> CaseView:
    """Take the case (no `staff_id`), or give it to someone (supervisor and up; 403 `assignment_forbidden`)."""
    staff_id = require_staff(identity, "analyst")
    assigned = await case_work.assign_case(
        session,
        case_id=case_id,
        staff_id=body.staff_id,
        by=staff_id,
        role=str(identity.context.get("role", "")),
        now=state.clock.now(),
    )
    detail = {"assignee": assigned.assignee, "customers": _customers(assigned)}
    await _audit(session, state, identity, action="fraud_case.assign", target_id=assigned.id, detail=detail)
    return CaseView.of(assigned)


@router.post(
    "/cases/{case_id}/comments",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "case_not_found"),
    ),
)
async def comment_case(
    case_id: CaseId, body: CommentIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> CommentView:
    """Append a comment to the case (analyst); comments are never changed or removed."""
    staff_id = require_staff(identity, "analyst")
    comment = await case_work.add_comment(session, case_id=case_id, text=body.text, by=staff_id, now=state.clock.now())
    case = await cases.get_case(session, case_id)
    detail = {"comment_id": comment.id, "customers": _customers(case)}
    await _audit(session, state, identity, action="fraud_case.comment", target_id=case.id, detail=detail)
    return CommentView.of(comment)


@router.post(
    "/cases/{case_id}/status",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "case_not_found"),
        (409, "case_already_resolved"),
        (409, "case_status_refused"),
    ),
)
async def change_case_status(
    case_id: CaseId, body: StatusChange, session: SessionDep, state: StateDep, identity: IdentityDep
) -> CaseView:
    """Move an unresolved case: open -> in_review -> escalated, escalated -> in_review (analyst; 409 otherwise)."""
    require_staff(identity, "analyst")
    moved = await case_work.change_status(session, case_id=case_id, status=body.status, now=state.clock.now())
    detail = {"status": moved.status, "customers": _customers(moved)}
    await _audit(session, state, identity, action="fraud_case.status", target_id=moved.id, detail=detail)
    return CaseView.of(moved)


def _customers(case: cases.Case) -> list[str]:
    return [case.customer_id] if case.customer_id else []


# ---- suppressions --------------------------------------------------------------------------------------------------


@router.get(
    "/suppressions",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_suppressions(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    include_ended: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> SuppressionList:
    """Snoozed rules in force, newest first; with `include_ended`, also those lifted or expired (analyst)."""
    require_staff(identity, "analyst")
    now = state.clock.now()
    found = await cases.suppressions(session, now=now, include_ended=include_ended, limit=limit)
    detail = {
        "filters": {"include_ended": include_ended, "limit": limit},
        "count": len(found),
        "customers": sorted({s.entity_value for s in found if s.entity_type == "customer"}),
    }
    await _audit(
        session, state, identity, action="fraud_suppression.list", target_id="*", detail=detail, target="suppression"
    )
    return SuppressionList(suppressions=[SuppressionView.of(s, now) for s in found])


@router.post(
    "/suppressions",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def add_suppression(
    body: SuppressionIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> SuppressionView:
    """Snooze one rule of the live set for one customer, device (key) or IP, until a time at most 90 days ahead
    (supervisor): a known false positive stops hitting without weakening the rule for everyone."""
    staff_id = require_staff(identity, "supervisor")
    now = state.clock.now()
    added = await cases.add_suppression(
        session,
        rule_id=body.rule_id,
        entity_type=body.entity_type,
        entity_value=body.entity_value,
        until=body.until,
        note=body.note,
        by=staff_id,
        now=now,
    )
    _forget_suppressions(session, state)
    await _audit(
        session,
        state,
        identity,
        action="fraud_suppression.add",
        target_id=added.id,
        detail=_suppression_detail(added),
        target="suppression",
    )
    return SuppressionView.of(added, now)


@router.delete(
    "/suppressions/{suppression_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "suppression_not_found"),
        (409, "suppression_already_lifted"),
    ),
)
async def lift_suppression(
    suppression_id: SuppressionId, session: SessionDep, state: StateDep, identity: IdentityDep
) -> SuppressionView:
    """End a suppression now: the rule hits the entity again; the suppression stays, marked lifted (supervisor)."""
    staff_id = require_staff(identity, "supervisor")
    now = state.clock.now()
    lifted = await cases.lift_suppression(session, suppression_id=suppression_id, by=staff_id, now=now)
    _forget_suppressions(session, state)
    await _audit(
        session,
        state,
        identity,
        action="fraud_suppression.lift",
        target_id=lifted.id,
        detail=_suppression_detail(lifted),
        target="suppression",
    )
    return SuppressionView.of(lifted, now)


def _suppression_detail(suppression: cases.Suppression) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "rule_id": suppression.rule_id,
        "entity_type": suppression.entity_type,
        # a device by digest, as the views show it: the trail is read by staff too (device_digests.py)
        "entity_value": as_digest(suppression.entity_value)
        if suppression.entity_type == "device"
        else suppression.entity_value,
        "until": suppression.until.isoformat(),
        "note": suppression.note,
    }
    if suppression.entity_type == "customer":
        detail["customers"] = [suppression.entity_value]
    return detail


def _forget_suppressions(session: AsyncSession, state: ServiceState) -> None:
    # After the commit, not before: a score in between would cache the old suppressions for another second.
    on_commit(session, fraud_runtime(state).scorer.suppressions.forget)


async def _audit(
    session: AsyncSession,
    state: ServiceState,
    identity: ServiceIdentity,
    *,
    action: str,
    target_id: str,
    detail: dict[str, Any],
    target: Literal["case", "suppression"] = "case",
) -> None:
    await audit_staff(
        session, state, identity, action=action, target_type=f"fraud_{target}", target_id=target_id, detail=detail
    )
