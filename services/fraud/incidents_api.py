"""Staff routes for incidents (INC-1..3, INC-8), reached through the gateway's /v1/ops/incidents...: open one, read
it with its timeline, move its status, add to its timeline. Every read and change is audited (SEC-6); the role is
checked here again although the gateway checked it first.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import incidents, models
from services.fraud.incidents import EntryKind, IncidentKind, Status
from shared.audit import audit_staff, customers_in
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses
from shared.roles import require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal/ops", tags=["ops"])

IncidentId = Annotated[str, Path(max_length=40)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: IncidentKind
    summary: Text
    detected_at: AwareDatetime
    occurred_at: AwareDatetime | None = None


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    reopen: bool = Field(default=False, description="required to go back to an earlier status")


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: EntryKind
    text: Text
    at: AwareDatetime | None = Field(default=None, description="when it happened; default: now")
    corrects: str | None = Field(default=None, max_length=40, description="the entry this one corrects")


class IncidentView(BaseModel):
    id: str
    title: str
    kind: str
    summary: str
    status: str
    detected_at: datetime
    occurred_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, incident: incidents.Incident) -> IncidentView:
        return cls(**asdict(incident))


class EntryView(BaseModel):
    id: str
    seq: int
    kind: str
    text: str
    at: datetime
    recorded_at: datetime
    recorded_by: str
    corrects: str | None
    data: dict[str, Any]


class Counts(BaseModel):
    affected_customers: int
    contained: int
    failed: int


class IncidentDetail(IncidentView):
    timeline: list[EntryView]
    customers: Counts


class IncidentList(BaseModel):
    incidents: list[IncidentView]
    next_cursor: str | None


async def audit(
    session: AsyncSession,
    state: ServiceState,
    identity: ServiceIdentity,
    *,
    action: str,
    target_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    await audit_staff(
        session, state, identity, action=action, target_type="incident", target_id=target_id, detail=detail
    )


async def customer_counts(session: AsyncSession, incident_id: str) -> Counts:
    c = models.incident_customer
    rows = await session.execute(
        select(c.c.status, func.count()).where(c.c.incident_id == incident_id).group_by(c.c.status)
    )
    by_status: dict[str, int] = {str(row[0]): int(row[1]) for row in rows.all()}
    return Counts(
        affected_customers=sum(by_status.values()),
        contained=by_status.get("contained", 0),
        failed=by_status.get("failed", 0),
    )


async def detail_of(session: AsyncSession, incident: incidents.Incident) -> IncidentDetail:
    entries = await incidents.timeline(session, incident.id)
    return IncidentDetail(
        **asdict(incident),
        timeline=[EntryView(**asdict(entry)) for entry in entries],
        customers=await customer_counts(session, incident.id),
    )


@router.post(
    "/incidents",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (422, "validation_failed"),
    ),
)
async def open_incident(
    body: IncidentIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> IncidentDetail:
    """Open an incident (supervisor); its timeline starts with the opening."""
    staff_id = require_staff(identity, "supervisor")
    incident = await incidents.open_incident(
        session,
        title=body.title,
        kind=body.kind,
        summary=body.summary,
        detected_at=body.detected_at,
        occurred_at=body.occurred_at,
        staff_id=staff_id,
        now=state.clock.now(),
    )
    await audit(session, state, identity, action="incident.open", target_id=incident.id, detail={"kind": body.kind})
    return await detail_of(session, incident)


@router.get(
    "/incidents",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def list_incidents(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    status: Status | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentList:
    """Incidents newest first, a page at a time (analyst; the read is audited)."""
    require_staff(identity, "analyst")
    found, next_cursor = await incidents.list_incidents(session, status=status, cursor=cursor, limit=limit)
    detail = {"filters": {"status": status, "cursor": cursor, "limit": limit}, "count": len(found)}
    await audit(session, state, identity, action="incident.list", target_id="*", detail=detail)
    return IncidentList(incidents=[IncidentView.of(i) for i in found], next_cursor=next_cursor)


@router.get(
    "/incidents/{incident_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
    ),
)
async def view_incident(
    incident_id: IncidentId, session: SessionDep, state: StateDep, identity: IdentityDep
) -> IncidentDetail:
    """The incident with its whole timeline and how many customers it touched (analyst; audited)."""
    require_staff(identity, "analyst")
    incident = await incidents.get_incident(session, incident_id)
    shown = await detail_of(session, incident)
    # The timeline can name customers (a containment's failures): the trail names every one shown (SEC-6).
    detail = {"customers": customers_in(shown.model_dump(mode="json"))}
    await audit(session, state, identity, action="incident.view", target_id=incident.id, detail=detail)
    return shown


@router.post(
    "/incidents/{incident_id}/status",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (409, "incident_closed"),
        (409, "recurrence_prevention_missing"),
        (409, "status_backwards"),
        (409, "status_unchanged"),
        (422, "validation_failed"),
    ),
)
async def change_status(
    incident_id: IncidentId, body: StatusIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> IncidentDetail:
    """Move the incident on (supervisor), with a reason that goes into the timeline; back only with reopen."""
    staff_id = require_staff(identity, "supervisor")
    incident = await incidents.change_status(
        session,
        incident_id,
        status=body.status,
        reason=body.reason,
        reopen=body.reopen,
        staff_id=staff_id,
        now=state.clock.now(),
    )
    detail = {"status": body.status, "reopen": body.reopen}
    await audit(session, state, identity, action="incident.status", target_id=incident.id, detail=detail)
    return await detail_of(session, incident)


@router.post(
    "/incidents/{incident_id}/timeline",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (409, "incident_closed"),
        (422, "validation_failed"),
    ),
)
async def add_entry(
    incident_id: IncidentId, body: EntryIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> EntryView:
    """One more fact, decision, notice or action (analyst): appended, never edited; a correction names the entry it
    corrects. A closed incident takes no more entries."""
    staff_id = require_staff(identity, "analyst")
    incident = await incidents.get_incident(session, incident_id, for_update=True)
    if incident.status == "closed":
        raise incidents.StatusConflict("A closed incident takes no more entries.", code="incident_closed")
    entry = await incidents.append_entry(
        session,
        incident.id,
        kind=body.kind,
        text=body.text,
        at=body.at,
        staff_id=staff_id,
        now=state.clock.now(),
        corrects=body.corrects,
    )
    detail = {"kind": body.kind, "entry_id": entry.id, "corrects": body.corrects}
    await audit(session, state, identity, action="incident.timeline_add", target_id=incident.id, detail=detail)
    return EntryView(**asdict(entry))
