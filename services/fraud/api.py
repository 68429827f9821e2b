"""Routes of the fraud service (this issue: event intake; scoring, cases and ops queries follow)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from services.fraud import intake
from services.fraud.schemas import EventIn
from shared.dependencies import IdentityDep, SessionDep, StateDep

router = APIRouter(prefix="/internal", tags=["events"])


@router.post("/events", status_code=201, responses={200: {"description": "already stored (redelivery)"}})
async def receive_event(body: EventIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> JSONResponse:
    created = await intake.ingest(session, body, producer=identity.caller, now=state.clock.now())
    return JSONResponse({"event_id": body.event_id, "stored": created}, status_code=201 if created else 200)
