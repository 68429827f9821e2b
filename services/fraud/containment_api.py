"""Staff routes for an incident's customers (INC-1, INC-3), reached through the gateway's /v1/ops/incidents/{id}/...:
the bulk containment, the list of customers it recorded, and the notices they are sent. Audited (SEC-6), the role
checked here again."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.fraud import containment, incident_notices, incidents
from services.fraud.clients import AuthClient
from services.fraud.incidents_api import IncidentId, audit
from services.fraud.schemas import AffectedCustomer, AffectedCustomers
from shared.contracts.fraud_actions import IncidentNoticeTemplate
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.problems import STAFF_ROUTE_PROBLEMS, invalid, problem_responses
from shared.roles import require_staff

router = APIRouter(prefix="/internal/ops", tags=["ops"])

DEFAULT_LOOKBACK = timedelta(days=30)  # before the incident's occurrence (or detection), when `since` is not given
AUDITED_CUSTOMERS = 1000  # customer ids named in one trail entry; the count is always there

CustomerId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


class ContainmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[CustomerId] = Field(default_factory=list, max_length=containment.MAX_CUSTOMERS)
    ip: str | None = Field(default=None, max_length=64, description="an address, or a network in CIDR notation")
    device_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="a device key, its sha256: digest, or auth's dev_ id"
    )
    since: AwareDatetime | None = Field(
        default=None, description="events from this time on; default: 30 days before the incident occurred"
    )
    lock: bool = True
    revoke_sessions: bool = True
    require_password_reset: bool = Field(
        default=False, description="invalidate their passwords: only a new one (the password reset) signs in again"
    )


class ContainmentOut(BaseModel):
    incident_id: str
    affected: int = Field(description="customers this containment covers")
    added: int = Field(description="of them, newly recorded on the incident")
    asked: int = Field(description="of them, asked of auth (not confirmed before)")
    contained: int
    already: int = Field(description="asked again after an answer was lost: auth had already done it")
    passwords_invalidated: int = Field(description="customers whose password is now invalid (require_password_reset)")
    failed: list[dict[str, str]] = Field(description="customers auth could not act on, with why: send it again")


@router.post(
    "/incidents/{incident_id}/containment",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (409, "incident_closed"),
        (422, "too_many_customers"),
        (422, "validation_failed"),
        (502, "auth_unavailable"),
    ),
)
async def contain(
    incident_id: IncidentId, body: ContainmentIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> ContainmentOut:
    """Lock (or only sign out) the customers an incident touched, by list, IP or network, and device (supervisor)."""
    staff_id = require_staff(identity, "supervisor")
    if not body.customer_ids and body.ip is None and body.device_id is None:
        raise invalid("customer_ids", "Name the customers, an IP or network, or a device.")
    if not body.lock and not body.revoke_sessions:
        raise invalid("lock", "A containment locks the customers or ends their sessions (or both).")
    now = state.clock.now()
    if body.since is not None and body.since > now:
        raise invalid("since", "since cannot be in the future.")
    incident = await incidents.get_incident(session, incident_id)
    since = body.since or (incident.occurred_at or incident.detected_at) - DEFAULT_LOOKBACK
    scope = containment.Scope(
        customer_ids=tuple(dict.fromkeys(body.customer_ids)),
        ip=body.ip,
        device=body.device_id,
        since=since,
        lock=body.lock,
        revoke_sessions=body.revoke_sessions,
        invalidate_password=body.require_password_reset,
    )
    outcome = await containment.contain(
        session, AuthClient(state.client), incident.id, scope, staff_id=staff_id, now=now
    )
    detail: dict[str, Any] = {
        **scope.described(),
        "affected": outcome.affected,
        "contained": len(outcome.contained),
        "failed": len(outcome.failed),
        "customers": sorted(outcome.contained + list(outcome.failed))[:AUDITED_CUSTOMERS],
    }
    await audit(session, state, identity, action="incident.contain", target_id=incident.id, detail=detail)
    return ContainmentOut(
        incident_id=incident.id,
        affected=outcome.affected,
        added=outcome.added,
        asked=outcome.asked,
        contained=len(outcome.contained),
        already=outcome.already,
        passwords_invalidated=outcome.passwords_invalidated,
        failed=containment.failed_view(outcome),
    )


@router.get(
    "/incidents/{incident_id}/customers",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
    ),
)
async def list_customers(
    incident_id: IncidentId,
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    status: Literal["pending", "contained", "failed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AffectedCustomers:
    """The customers recorded on the incident, with whether auth confirmed their containment (supervisor)."""
    require_staff(identity, "supervisor")
    incident = await incidents.get_incident(session, incident_id)
    shown, next_cursor = await containment.affected_list(
        session, incident.id, status=status, cursor=cursor, limit=limit
    )
    detail = {"filters": {"status": status, "cursor": cursor}, "customers": [c["customer_id"] for c in shown]}
    await audit(session, state, identity, action="incident.customers", target_id=incident.id, detail=detail)
    return AffectedCustomers(customers=[AffectedCustomer(**c) for c in shown], next_cursor=next_cursor)


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: IncidentNoticeTemplate
    language: Literal["ja", "en"] | None = Field(default=None, description="default: each customer's own")


class NoticeOut(BaseModel):
    incident_id: str
    template: str
    customers: int = Field(description="customers recorded on the incident")
    sent: int = Field(description="told now")
    already: int = Field(description="told by an earlier request: not again")
    failed: list[dict[str, str]] = Field(description="customers auth could not tell, with why: send it again")


@router.post(
    "/incidents/{incident_id}/notices",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "incident_not_found"),
        (409, "incident_closed"),
        (409, "no_affected_customers"),
        (422, "validation_failed"),
        (502, "auth_unavailable"),
    ),
)
async def send_notice(
    incident_id: IncidentId, body: NoticeIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> NoticeOut:
    """Tell every customer recorded on the incident, with the chosen template, once each (supervisor; audited)."""
    staff_id = require_staff(identity, "supervisor")
    result = await incident_notices.send_notice(
        session,
        AuthClient(state.client),
        incident_id,
        template=body.template,
        language=body.language,
        staff_id=staff_id,
        now=state.clock.now(),
    )
    detail = {
        "template": body.template,
        "sent": len(result.sent),
        "failed": len(result.failed),
        "customers": sorted(result.sent + list(result.failed))[:AUDITED_CUSTOMERS],
    }
    await audit(session, state, identity, action="incident.notice", target_id=incident_id, detail=detail)
    return NoticeOut(
        incident_id=incident_id,
        template=body.template,
        customers=result.customers,
        sent=len(result.sent),
        already=result.already,
        failed=[{"customer_id": c, "reason": r} for c, r in sorted(result.failed.items())],
    )
