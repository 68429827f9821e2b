"""Routes of the notify service (internal: called by the other services' outbox relays and by staff routes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from services.notify import intake, preferences, queries
from services.notify.runtime import RuntimeDep
from services.notify.schemas import (
    NotificationDetail,
    NotificationView,
    PreferenceBody,
    PreferenceView,
)
from shared.audit import audit_staff
from shared.contracts.notifications import NotificationRequest
from shared.database import on_commit
from shared.dependencies import IdentityDep, SessionDep, StateDep, only_from
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_responses
from shared.roles import require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal", tags=["notifications"])
# The services that notify customers: auth (sign-in, contacts, codes, locks, what fraud asks for), kyc (postal
# codes), txn (withdrawals, bank links). Only they may queue a message to any address.
PRODUCERS = only_from("auth", "kyc", "txn")
# What only the gateway forwards: staff reading deliveries, a customer's own preferences.
GATEWAY = only_from("gateway")


@router.post(
    "/notifications",
    status_code=201,
    dependencies=[PRODUCERS],
    responses={200: {"description": "already accepted (same key)"}},
)
async def accept_notification(
    body: NotificationRequest,
    session: SessionDep,
    state: StateDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Queue a notification for delivery; a redelivery with the same idempotency key sends nothing again."""
    if idempotency_key is not None and idempotency_key != body.idempotency_key:
        raise Problem(
            "The Idempotency-Key header and the body's idempotency_key differ.", code="validation_failed", status=422
        )
    accepted = await intake.accept(
        session,
        body,
        producer=identity.caller,
        renderer=runtime.renderer,
        cipher=state.cipher,
        clock=state.clock,
        sms_events=runtime.settings.sms_events,
    )
    if accepted.created:
        # Wake the worker once this transaction has committed: a one-time code lives 60 s.
        on_commit(session, runtime.worker.pump.wake)
    view = await queries.get_notification(session, accepted.notification_id)
    return JSONResponse(view.model_dump(mode="json"), status_code=201 if accepted.created else 200)


@router.get(
    "/notifications",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_notifications(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    customer_id: str | None = None,
    status: Literal["queued", "sent", "failed", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[NotificationView]:
    """Notifications, newest first, with each delivery's status (staff; recipients masked; the read is audited)."""
    require_staff(identity, "analyst")
    found = await queries.list_notifications(session, customer_id=customer_id, status=status, limit=limit)
    await _audit(
        session,
        state,
        identity,
        action="notifications.search",
        target_id=customer_id or "*",
        detail={
            "filters": {"customer_id": customer_id, "status": status, "limit": limit},
            "customers": sorted({view.customer_id for view in found if view.customer_id}),
        },
    )
    return found


@router.get(
    "/notifications/{notification_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def get_notification(
    notification_id: str, session: SessionDep, state: StateDep, identity: IdentityDep
) -> NotificationDetail:
    """One notification with every delivery attempt (staff; the read is audited)."""
    require_staff(identity, "analyst")
    found = await queries.get_notification(session, notification_id)
    await _audit(
        session,
        state,
        identity,
        action="notification.view",
        target_id=notification_id,
        detail={"customers": [found.customer_id] if found.customer_id else []},
    )
    return found


async def _audit(
    session: AsyncSession,
    state: ServiceState,
    identity: ServiceIdentity,
    *,
    action: str,
    target_id: str,
    detail: dict[str, Any],
) -> None:
    await audit_staff(
        session, state, identity, action=action, target_type="notification", target_id=target_id, detail=detail
    )


@router.get("/deliveries/counts", dependencies=[GATEWAY])
async def delivery_counts(session: SessionDep) -> dict[str, int]:
    """How many deliveries are in each status."""
    return await queries.delivery_counts(session)


@router.get("/preferences/{customer_id}", dependencies=[GATEWAY])
async def get_preference(customer_id: str, session: SessionDep) -> PreferenceView:
    return await preferences.get_preference(session, customer_id)


@router.put("/preferences/{customer_id}", dependencies=[GATEWAY])
async def put_preference(
    customer_id: str, body: PreferenceBody, session: SessionDep, state: StateDep
) -> PreferenceView:
    """Add (or stop adding) SMS to email. Email itself and every security notice stay on."""
    return await preferences.set_sms(session, customer_id, sms=body.sms, clock=state.clock)
