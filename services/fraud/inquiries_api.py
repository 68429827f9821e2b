"""Staff routes of the consultation desk (INC-5), reached through the gateway's /v1/ops/inquiries...

Every read and change is audited (SEC-6) with the customer it concerns; the role is checked here again although
the gateway checked it first.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import inquiries
from services.fraud.cases_api import CaseView
from services.fraud.ops_api import ListEntryView
from shared.audit import audit_staff
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses
from shared.roles import require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal/ops/inquiries", tags=["ops"])

InquiryId = Annotated[str, Path(max_length=40)]
Channel = Literal["phone", "email", "letter", "counter", "web"]
Caller = Literal["customer", "family", "police", "other"]
Status = Literal["new", "in_progress", "answered", "closed"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class InquiryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = Field(default=None, max_length=40, description="the customer it concerns (cus_…)")
    incident_id: str | None = Field(default=None, max_length=40, description="the incident it belongs to (inc_…)")
    channel: Channel
    caller: Caller = Field(description="who called: the customer, their family, the police, someone else")
    summary: Text
    received_at: AwareDatetime | None = Field(default=None, description="when the caller reached the desk; now")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text
    channel: Channel


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status


class InquiryView(BaseModel):
    id: str
    received_at: datetime
    recorded_at: datetime
    recorded_by: str
    customer_id: str | None
    incident_id: str | None
    channel: Channel
    caller: Caller
    summary: str
    status: Status
    status_changed_at: datetime
    status_changed_by: str

    @classmethod
    def of(cls, inquiry: inquiries.Inquiry) -> InquiryView:
        return cls(**asdict(inquiry))


class AnswerView(BaseModel):
    id: str
    at: datetime
    by: str = Field(description="the staff id who answered")
    channel: Channel
    text: str

    @classmethod
    def of(cls, answer: inquiries.Answer) -> AnswerView:
        return cls.model_validate(asdict(answer))


class FactsView(BaseModel):
    since: datetime
    events: list[dict[str, Any]] = Field(description="the customer's events, newest first: logins, devices, money")
    events_truncated: bool
    cases: list[CaseView] = Field(description="the customer's cases, open and resolved, newest first")
    list_entries: list[ListEntryView] = Field(description="entries in force naming the customer or what they used")


class InquiryDetail(InquiryView):
    answers: list[AnswerView]
    facts: FactsView


class InquiryPage(BaseModel):
    inquiries: list[InquiryView]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page; None: this was the last")


class AnswerAdded(BaseModel):
    inquiry: InquiryView
    answer: AnswerView


@router.post(
    "",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def record_inquiry(body: InquiryIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> InquiryView:
    """Record an inquiry as the desk took it (analyst)."""
    staff_id = require_staff(identity, "analyst")
    inquiry = await inquiries.record_inquiry(
        session,
        customer_id=body.customer_id,
        incident_id=body.incident_id,
        channel=body.channel,
        caller=body.caller,
        summary=body.summary,
        received_at=body.received_at,
        by=staff_id,
        now=state.clock.now(),
    )
    detail = {"channel": inquiry.channel, "caller": inquiry.caller, "incident_id": inquiry.incident_id}
    await _audit(session, state, identity, "inquiry.record", inquiry, detail)
    return InquiryView.of(inquiry)


@router.get(
    "",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "cursor_invalid"),
        (422, "validation_failed"),
    ),
)
async def list_inquiries(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    status: Status | None = None,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
    incident_id: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InquiryPage:
    """The desk's inquiries, newest recorded first, one page at a time (analyst; the read is audited)."""
    require_staff(identity, "analyst")
    page, next_cursor = await inquiries.list_inquiries(
        session, status=status, customer_id=customer_id, incident_id=incident_id, cursor=cursor, limit=limit
    )
    detail = {
        "filters": {"status": status, "customer_id": customer_id, "incident_id": incident_id, "limit": limit},
        "count": len(page),
        # the customer searched for, even when nothing was found: a read about them is a read of their data
        "customers": sorted({i.customer_id for i in page if i.customer_id} | ({customer_id} if customer_id else set())),
    }
    await audit_staff(
        session, state, identity, action="inquiry.list", target_type="inquiry", target_id="*", detail=detail
    )
    return InquiryPage(inquiries=[InquiryView.of(i) for i in page], next_cursor=next_cursor)


@router.get(
    "/{inquiry_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "inquiry_not_found"),
    ),
)
async def view_inquiry(
    inquiry_id: InquiryId, session: SessionDep, state: StateDep, identity: IdentityDep
) -> InquiryDetail:
    """An inquiry with its answers and the facts behind it: the customer's recent events (logins, new devices,
    withdrawals, links, charges, with IPs and device digests), their cases and the list entries that name them or
    what they used (analyst; the read is audited naming the customer)."""
    require_staff(identity, "analyst")
    now = state.clock.now()
    inquiry = await inquiries.get_inquiry(session, inquiry_id)
    answers = await inquiries.answers_of(session, inquiry.id)
    facts = await inquiries.facts_of(session, inquiry.customer_id, now=now)
    detail = {"events": len(facts.events), "cases": [case.id for case in facts.cases]}
    await _audit(session, state, identity, "inquiry.view", inquiry, detail)
    return InquiryDetail(
        **InquiryView.of(inquiry).model_dump(),
        answers=[AnswerView.of(answer) for answer in answers],
        facts=FactsView(
            since=facts.since,
            events=facts.events,
            events_truncated=facts.events_truncated,
            cases=[CaseView.of(case) for case in facts.cases],
            list_entries=[ListEntryView.of(entry, now) for entry in facts.list_entries],
        ),
    )


@router.post(
    "/{inquiry_id}/answers",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "inquiry_not_found"),
        (409, "inquiry_closed"),
        (409, "inquiry_status_refused"),
    ),
)
async def add_answer(
    inquiry_id: InquiryId, body: AnswerIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> AnswerAdded:
    """Append what the desk told the caller; a new or in-progress inquiry is then answered (analyst)."""
    staff_id = require_staff(identity, "analyst")
    inquiry, answer = await inquiries.add_answer(
        session, inquiry_id=inquiry_id, text=body.text, channel=body.channel, by=staff_id, now=state.clock.now()
    )
    detail = {"answer_id": answer.id, "channel": answer.channel, "status": inquiry.status}
    await _audit(session, state, identity, "inquiry.answer", inquiry, detail)
    return AnswerAdded(inquiry=InquiryView.of(inquiry), answer=AnswerView.of(answer))


@router.post(
    "/{inquiry_id}/status",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "inquiry_not_found"),
        (409, "inquiry_status_refused"),
    ),
)
async def change_status(
    inquiry_id: InquiryId, body: StatusIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> InquiryView:
    """Move the inquiry: new -> in_progress -> answered -> closed, answered -> in_progress; answered and closed need
    an answer first (409 `inquiry_status_refused`) (analyst)."""
    staff_id = require_staff(identity, "analyst")
    inquiry = await inquiries.change_status(
        session, inquiry_id=inquiry_id, status=body.status, by=staff_id, now=state.clock.now()
    )
    await _audit(session, state, identity, "inquiry.status", inquiry, {"status": inquiry.status})
    return InquiryView.of(inquiry)


async def _audit(
    session: AsyncSession,
    state: ServiceState,
    identity: ServiceIdentity,
    action: str,
    inquiry: inquiries.Inquiry,
    detail: dict[str, Any],
) -> None:
    detail = {**detail, "customers": [inquiry.customer_id] if inquiry.customer_id else []}
    await audit_staff(
        session, state, identity, action=action, target_type="inquiry", target_id=inquiry.id, detail=detail
    )
