"""`POST /internal/trace`: follows one request through a chain of services, for operators and end-to-end tests.

Each hop answers with its own name, the request id it saw and who called it, then the answer of the
next hop. It proves the signed identity and the request id cross every hop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.dependencies import IdentityDep, StateDep
from shared.logs import request_id_var
from shared.problems import Problem, problem_responses

INTERNAL_SERVICES = ("auth", "kyc", "txn", "fraud", "notify")

router = APIRouter(prefix="/internal", tags=["internal"])


class TraceRequest(BaseModel):
    hops: list[str] = Field(default_factory=list, max_length=5, description="services to visit after this one")


class TraceHop(BaseModel):
    """One hop's answer. `next` (absent at the last hop) is the next hop's answer as it came, passed through
    untyped: a diagnostic must show what a hop said even when it is not what this version expects."""

    service: str
    caller: str = Field(description="who called this hop, by its signed identity")
    request_id: str | None
    database: str = Field(description="the hop's database dialect")
    next: dict[str, Any] | None = Field(default=None, description="the next hop's answer, as another TraceHop")


@router.post(
    "/trace",
    response_model_exclude_unset=True,  # `next` stays absent at the last hop, as it always was
    responses=problem_responses(
        (404, "customer_not_found"),
        (422, "unknown_service"),
        (502, "auth_unavailable"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def trace(body: TraceRequest, state: StateDep, identity: IdentityDep) -> TraceHop:
    unknown = [hop for hop in body.hops if hop not in INTERNAL_SERVICES]
    if unknown:
        raise Problem(f"Unknown service(s): {', '.join(unknown)}.", code="unknown_service", status=422)
    answer = TraceHop(
        service=state.name,
        caller=identity.caller,
        request_id=request_id_var.get(),
        database=state.database.target.dialect,
    )
    if body.hops:
        response = await state.client.request(
            body.hops[0], "POST", "/internal/trace", json={"hops": body.hops[1:]}, idempotent=True
        )
        answer.next = response.json()
    return answer
