"""Routes of the fraud service (this issue: event intake; scoring, cases and ops queries follow)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import JSONResponse

from services.fraud import intake
from services.fraud.schemas import EventIn
from shared.batches import BatchIn, BatchOut, BatchResult
from shared.dependencies import IdentityDep, SessionDep, StateDep

router = APIRouter(prefix="/internal", tags=["events"])


@router.post("/events", status_code=201, responses={200: {"description": "already stored (redelivery)"}})
async def receive_event(body: EventIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> JSONResponse:
    created = await intake.ingest(session, [body], producer=identity.caller, now=state.clock.now())
    stored = body.event_id in created
    return JSONResponse({"event_id": body.event_id, "stored": stored}, status_code=201 if stored else 200)


@router.post("/events/batch")
async def receive_events(body: BatchIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> BatchOut:
    """Many events in one request (shared/batches.py): each is judged alone, as the single route would."""
    events: list[EventIn] = []
    refused: dict[str, str] = {}
    for message in body.messages:
        try:
            event = EventIn.model_validate(message.body)
        except ValidationError as exc:
            refused[message.key] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            continue
        if event.event_id != message.key:
            refused[message.key] = "the key must be the event's id"
            continue
        events.append(event)
    created = await intake.ingest(session, events, producer=identity.caller, now=state.clock.now())
    return BatchOut(
        results=[
            BatchResult(key=m.key, status=422, detail=refused[m.key])
            if m.key in refused
            else BatchResult(key=m.key, status=201 if m.key in created else 200)
            for m in body.messages
        ]
    )
