"""What fraud asks auth to do to a customer when a rule hits (RESP-1, RESP-3): tell them about the suspicious
activity, lock the account, or end every session; or, when staff deny-listed a device as infected (SEC-3), end the
sessions on that device and warn them (device_blocks.py). Only fraud may ask; its outbox delivers the request at least
once, so each action is applied once per score however often it arrives.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import accounts, device_blocks, lockout, models, sessions
from services.auth.runtime import AuthRuntime, RuntimeDep
from shared.contracts.fraud_actions import (
    INCIDENT_ACTIONS_PATH,
    FraudActionRequest,
    IncidentActionDone,
    IncidentActionRequest,
    IncidentActionResult,
)
from shared.contracts.notifications import AccountLockedData, EventType, IncidentNoticeData, SuspiciousActivityData
from shared.dependencies import IdentityDep, SessionDep
from shared.events import record_event
from shared.notifications import send_notification
from shared.problems import Problem

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/customers/{customer_id}/fraud-actions")
async def apply_fraud_action(
    customer_id: Annotated[str, Path(max_length=40)],
    body: FraudActionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
) -> dict[str, Any]:
    if identity.caller != "fraud":
        raise Problem("Only fraud may ask for actions on detection.", code="forbidden", status=403)
    m = models.customer
    # Locked so that two deliveries of the same request at once see each other's marker (SQLite has one writer).
    row = (await session.execute(select(m).where(m.c.id == customer_id).with_for_update())).first()
    if row is None:
        # Not a 404 problem: the outbox retries a 404 for ever, and no retry can make this customer exist (a
        # customer is never deleted, so fraud scored an id auth never issued). 200 ends the retries; the answer
        # says nothing was done.
        return {"done": False, "reason": "unknown customer"}
    marker = _marker(body)
    if await _applied(session, marker):
        return {"done": True, "action": body.action, "already": True}
    result = await _apply(session, runtime, row, body)
    await _record_applied(session, runtime, marker=marker, customer_id=customer_id, body=body, result=result)
    return {"done": True, "action": body.action, "already": False, **result}


async def _apply(session: AsyncSession, runtime: AuthRuntime, row: Any, body: FraudActionRequest) -> dict[str, Any]:
    now = runtime.clock.now()
    contact = accounts.contact_of(row, runtime.cipher)
    if body.action == "notify_suspicious":
        assert body.summary is not None
        await send_notification(
            runtime.outbox,
            session,
            key=f"auth:fraud:{body.ref}:notify",
            event_type=EventType.SUSPICIOUS_ACTIVITY,
            customer_id=row.id,
            language=contact.language,
            email=contact.email,
            phone=contact.phone,
            data=SuspiciousActivityData.model_construct(at=now, summary=body.summary),
            once=True,
        )
        return {}
    if body.action == "revoke_sessions":
        return {"sessions_ended": await sessions.revoke_all(session, row.id, now=now, reason="fraud")}
    if body.action == "block_device":  # SEC-3: staff deny-listed the device as infected
        assert body.device_digest is not None
        blocked = await device_blocks.block_device(
            session,
            row.id,
            digest=body.device_digest,
            device_ids=body.device_ids or [],
            source="staff",
            ref=body.ref,
            until=body.until,
            now=now,
        )
        await device_blocks.warn_customer(
            session,
            runtime.outbox,
            row,
            runtime.cipher,
            digest=body.device_digest,
            blocked=blocked,
            source="staff",
            now=now,
        )
        return {"sessions_ended": len(blocked.ended_sessions), "devices": blocked.device_ids}
    if body.action == "unblock_device":  # the infected device's deny entry was removed or replaced
        assert body.device_digest is not None
        return {"lifted": await device_blocks.lift_blocks(session, row.id, digest=body.device_digest, now=now)}
    ended = await _lock(session, runtime, row, contact, why="fraud", key=f"auth:fraud:{body.ref}:locked", now=now)
    return {"sessions_ended": ended}


async def _lock(
    session: AsyncSession, runtime: AuthRuntime, row: Any, contact: Any, *, why: str, key: str, now: datetime
) -> int:
    """A hard lock (until identity is verified again), every session ended, and the customer told once per `key`;
    the sessions ended."""
    await lockout.hard_lock(session, row.id, now=now, reason=why)
    ended = await sessions.revoke_all(session, row.id, now=now, reason=f"{why}_lock")
    await send_notification(
        runtime.outbox,
        session,
        key=key,
        event_type=EventType.ACCOUNT_LOCKED,
        customer_id=row.id,
        language=contact.language,
        email=contact.email,
        phone=contact.phone,
        data=AccountLockedData.model_construct(at=now, reason="fraud", until=None),
        once=True,
    )
    return ended


def _marker(body: FraudActionRequest) -> str:
    """The id of the fraud_action_applied event of this request: the same for every delivery of it."""
    return "evt_" + hashlib.sha256(f"fraud-action:{body.ref}:{body.action}".encode()).hexdigest()[:32]


async def _applied(session: AsyncSession, marker: str) -> bool:
    o = models.outbox
    found = await session.execute(select(o.c.id).where(o.c.idempotency_key == marker))
    return found.first() is not None


async def _record_applied(
    session: AsyncSession,
    runtime: AuthRuntime,
    *,
    marker: str,
    customer_id: str,
    body: FraudActionRequest,
    result: dict[str, Any],
) -> None:
    """The event for fraud, with an id derived from the request: the event's outbox row is also the marker a
    redelivery finds (outbox rows are kept), so that it locks, ends sessions started since, or notifies nothing
    more."""
    await record_event(
        runtime.outbox,
        session,
        type="fraud_action_applied",
        occurred_at=runtime.clock.now(),
        customer_id=customer_id,
        data={"action": body.action, "score_id": body.score_id, "case_id": body.case_id, **result},
        event_id=marker,
    )


@router.post(INCIDENT_ACTIONS_PATH.removeprefix("/internal"))
async def apply_incident_action(
    body: IncidentActionRequest, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> IncidentActionResult:
    """Staff's containment of an incident (INC-1: lock, end sessions) or its notice (INC-3), for many customers at
    once, asked by fraud while staff wait: each customer's outcome comes back, so staff see who failed and retry.
    Applied once per incident, action (template) and customer, however often asked."""
    if identity.caller != "fraud":
        raise Problem("Only fraud may ask for actions on an incident.", code="forbidden", status=403)
    results = [await _incident_action(session, runtime, body, customer_id) for customer_id in body.customer_ids]
    return IncidentActionResult(results=results)


async def _incident_action(
    session: AsyncSession, runtime: AuthRuntime, body: IncidentActionRequest, customer_id: str
) -> IncidentActionDone:
    m = models.customer
    row = (await session.execute(select(m).where(m.c.id == customer_id).with_for_update())).first()
    if row is None:
        return IncidentActionDone(customer_id=customer_id, done=False, reason="unknown customer")
    what = body.template if body.action == "notify" else body.action
    marker = (
        "evt_" + hashlib.sha256(f"incident-action:{body.incident_id}:{what}:{customer_id}".encode()).hexdigest()[:32]
    )
    if await _applied(session, marker):
        return IncidentActionDone(customer_id=customer_id, done=True, already=True)
    now = runtime.clock.now()
    contact = accounts.contact_of(row, runtime.cipher)
    ended: int | None = None
    if body.action == "notify":
        assert body.template is not None
        assert body.detected_at is not None
        await send_notification(
            runtime.outbox,
            session,
            key=f"auth:incident:{body.incident_id}:{body.template}:{customer_id}",
            event_type=EventType(body.template),
            customer_id=row.id,
            language=body.language or contact.language,
            email=contact.email,
            phone=contact.phone,
            data=IncidentNoticeData.model_construct(
                at=now, reference=body.reference or body.incident_id, detected_at=body.detected_at
            ),
            once=True,
        )
    elif body.action == "revoke_sessions":
        ended = await sessions.revoke_all(session, row.id, now=now, reason="incident")
    elif body.action == "invalidate_password":  # the password is taken as stolen: only a new one signs in again
        await session.execute(m.update().where(m.c.id == row.id).values(password_invalidated_at=now, updated_at=now))
        ended = await sessions.revoke_all(session, row.id, now=now, reason="incident_password")
    else:
        key = f"auth:incident:{body.incident_id}:locked:{customer_id}"
        ended = await _lock(session, runtime, row, contact, why="incident", key=key, now=now)
    await record_event(
        runtime.outbox,
        session,
        type="incident_action_applied",
        occurred_at=now,
        customer_id=customer_id,
        data={
            "action": body.action,
            "incident_id": body.incident_id,
            "template": body.template,
            "sessions_ended": ended,
        },
        event_id=marker,
    )
    return IncidentActionDone(customer_id=customer_id, done=True, sessions_ended=ended)
