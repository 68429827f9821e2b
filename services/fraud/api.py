"""Routes of the fraud service (this issue: event intake; scoring, cases and ops queries follow)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from services.fraud import actions, device_blocks, intake
from services.fraud.features import ScoreContext
from services.fraud.runtime import RuntimeDep
from services.fraud.scoring import ScoreRecord
from shared import batches
from shared.batches import BatchIn, BatchOut
from shared.contracts.events import EventIn
from shared.contracts.scoring import DeniedNetworks, Reason, ScoreAnswer, ScoreRequest
from shared.dependencies import IdentityDep, SessionDep, StateDep, only_from
from shared.ids import new_id
from shared.problems import Problem

router = APIRouter(prefix="/internal", tags=["events"])
# Only the gateway asks for a score before an operation (ARCHITECTURE "The gateway", step 4).
score_router = APIRouter(tags=["scoring"], dependencies=[only_from("gateway", "txn")])
# The services whose events fraud ingests: logins, devices and profile changes (auth), outcomes at the edge
# (gateway), identity proofing (kyc), links and transactions (txn).
EVENT_PRODUCERS = only_from("gateway", "auth", "kyc", "txn")


@router.post(
    "/events",
    status_code=201,
    dependencies=[EVENT_PRODUCERS],
    responses={200: {"description": "already stored (redelivery)"}},
)
async def receive_event(body: EventIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> JSONResponse:
    created = await intake.ingest(session, [body], producer=identity.caller, now=state.clock.now())
    if identity.caller == "auth":
        await device_blocks.block_reported_devices(session, state, [body], new=created, now=state.clock.now())
    stored = body.event_id in created
    return JSONResponse({"event_id": body.event_id, "stored": stored}, status_code=201 if stored else 200)


@router.post("/events/batch", dependencies=[EVENT_PRODUCERS])
async def receive_events(body: BatchIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> BatchOut:
    """Many events in one request (shared/batches.py): each is judged alone, as the single route would."""
    events, refused = batches.accept(body, EventIn, lambda event: event.event_id)
    created = await intake.ingest(session, events, producer=identity.caller, now=state.clock.now())
    if identity.caller == "auth":
        await device_blocks.block_reported_devices(session, state, events, new=created, now=state.clock.now())
    return batches.answer(body, refused, created)


DENIED_NETWORKS_PATH = "/internal/lists/ips/denied"


@router.get(DENIED_NETWORKS_PATH.removeprefix("/internal"))
async def denied_networks(runtime: RuntimeDep, identity: IdentityDep) -> DeniedNetworks:
    """The IP deny list in force, for the gateway's IP rules (SEC-4: changeable at run time by fraud's lists): the
    one the scorer holds, kept fresh every second; read from the database only if its refresher fell behind."""
    if identity.caller != "gateway":
        raise Problem("Only the gateway reads the deny list this way.", code="forbidden", status=403)
    state = runtime.service
    async with state.database.reading() as session:
        in_force = await runtime.scorer.lists.get(session, state.clock.now())
    return DeniedNetworks(networks=sorted(str(network) for network in in_force.ips))


@score_router.post("/score", response_model=ScoreAnswer)
async def score(body: ScoreRequest, runtime: RuntimeDep) -> Response:
    """Score an operation before it happens: 0-100, the reasons, the recommended action; the answer is recorded
    with the rule-set version that gave it, and what the rules that hit ask for is done with it (actions.py).

    The gateway waits on this, so the reads run without a transaction, as prepared statements on the driver
    (shared/statements.py; the customer's events beside the shared counts, on two connections), and an answer
    without actions is written just after it is sent; one with actions is written with them, in their
    transaction, before."""
    state, scorer, reads = runtime.service, runtime.scorer, runtime.score_reads
    context = ScoreContext(at=state.clock.now(), **body.model_dump())
    request = body.model_dump(exclude_none=True)
    async with AsyncExitStack() as stack:
        if reads.parallel_reads:
            async with runtime.score_pair:
                first = await stack.enter_async_context(reads.direct_reading())
                beside = await stack.enter_async_context(reads.direct_reading())
        else:
            first, beside = await stack.enter_async_context(reads.direct_reading()), None
        found, assessment, version = await scorer.assess(state.database, context, reads=first, beside=beside)
    record = ScoreRecord(new_id("scr"), context, found, assessment, version)
    if state.metrics is not None:
        state.metrics.scores.labels(context.operation, assessment.action).inc()
    done: list[actions.Done] = []
    if actions.needed(assessment):
        async with state.database.transaction() as session:
            await scorer.record(session, record, request)
            done = await actions.react(session, runtime, record)
    else:
        scorer.record_soon(state.database, record, request)
    answer = ScoreAnswer(
        score_id=record.id,
        score=record.assessment.score,
        action=record.assessment.action,
        reasons=[Reason(**reason) for reason in record.reasons()],
        summary=record.assessment.summary,
        rule_set_version=record.rule_set_version,
        case_id=next((entry["case_id"] for entry in done if entry["action"] == "open_case"), None),
        refusal=record.assessment.refusal,
    )
    # Serialized once, here: returned as a model, FastAPI would validate it again on the way out.
    return Response(answer.model_dump_json(), media_type="application/json")
