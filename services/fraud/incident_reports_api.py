"""Staff routes for what an incident leaves behind, reached through the gateway's /v1/ops/incidents/{id}/...: the
report drafts (INC-2) as HTML or PDF, the recurrence prevention (INC-8) with its versions, and the staff training
material it makes. Every download and change is audited (SEC-6); the role is checked here again."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import HTMLResponse, Response

from services.fraud import incident_pdf, incident_reports, incidents, recurrence
from services.fraud.incidents_api import IncidentId, audit
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_responses
from shared.roles import require_staff

router = APIRouter(prefix="/internal/ops", tags=["ops"])

Long = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]


class PreventionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: Long
    risk_reassessment: Long = Field(description="the risk re-assessed, the partners' (ATM networks, banks …) included")
    customer_cautions: Long
    training_material: Long


class PreventionView(BaseModel):
    version: int
    root_cause: str
    risk_reassessment: str
    customer_cautions: str
    training_material: str
    created_by: str
    created_at: datetime


class PreventionHistory(BaseModel):
    current: PreventionView | None
    versions: list[PreventionView] = Field(description="every version, oldest first")


class NoPrevention(Problem):
    status = 404
    code = "recurrence_prevention_missing"


@router.get(
    "/incidents/{incident_id}/reports/{kind}",
    # A document, not JSON: a page (format=html) or a PDF (format=pdf).
    response_class=HTMLResponse,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(
            *STAFF_ROUTE_PROBLEMS,
            (404, "incident_not_found"),
        ),
    },
)
async def report(
    incident_id: IncidentId,
    kind: Annotated[incident_reports.ReportKind, Path()],
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    format: Literal["html", "pdf"] = "html",
) -> Response:
    """A report draft filled from the recorded facts, 未記録 where they say nothing (supervisor; audited)."""
    require_staff(identity, "supervisor")
    facts = await incident_reports.gather(session, incident_id)
    draft = incident_reports.draft(kind, facts, state.clock.now())
    detail = {"kind": kind, "format": format}
    await audit(session, state, identity, action="incident.report", target_id=incident_id, detail=detail)
    filename = f"{incident_id}-{kind}.{format}"
    if format == "pdf":
        pdf = await anyio.to_thread.run_sync(incident_pdf.render_pdf, draft)  # CPU-bound: off the loop
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    return HTMLResponse(incident_reports.render_html(draft))


@router.put(
    "/incidents/{incident_id}/recurrence-prevention",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (409, "incident_closed"),
        (422, "validation_failed"),
    ),
)
async def record_prevention(
    incident_id: IncidentId, body: PreventionIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> PreventionHistory:
    """A new version of the recurrence prevention (supervisor); the earlier ones are kept."""
    staff_id = require_staff(identity, "supervisor")
    recorded = await recurrence.record(
        session, incident_id, **body.model_dump(), staff_id=staff_id, now=state.clock.now()
    )
    detail = {"version": recorded.version}
    await audit(session, state, identity, action="incident.recurrence", target_id=incident_id, detail=detail)
    return await _history(session, incident_id)


@router.get(
    "/incidents/{incident_id}/recurrence-prevention",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
    ),
)
async def view_prevention(
    incident_id: IncidentId, session: SessionDep, state: StateDep, identity: IdentityDep
) -> PreventionHistory:
    """The recurrence prevention in force and every earlier version (analyst; audited)."""
    require_staff(identity, "analyst")
    await incidents.get_incident(session, incident_id)
    await audit(session, state, identity, action="incident.recurrence_view", target_id=incident_id)
    return await _history(session, incident_id)


async def _history(session: SessionDep, incident_id: str) -> PreventionHistory:
    versions = [PreventionView(**asdict(p)) for p in await recurrence.history(session, incident_id)]
    return PreventionHistory(current=versions[-1] if versions else None, versions=versions)


@router.get(
    "/incidents/{incident_id}/training-material",
    response_class=HTMLResponse,  # a page, not JSON
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (404, "recurrence_prevention_missing"),
    ),
)
async def training_material(
    incident_id: IncidentId,
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    format: Literal["html"] = "html",
) -> HTMLResponse:
    """The staff training material of the recurrence prevention in force, as a page (analyst; audited)."""
    require_staff(identity, "analyst")
    incident = await incidents.get_incident(session, incident_id)
    prevention = await recurrence.current(session, incident_id)
    if prevention is None:
        raise NoPrevention("This incident has no recurrence prevention yet, so no training material.")
    detail = {"format": format, "version": prevention.version}
    await audit(session, state, identity, action="incident.training_material", target_id=incident_id, detail=detail)
    return HTMLResponse(incident_reports.render_training_material(incident, prevention))
