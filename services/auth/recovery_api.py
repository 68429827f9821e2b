"""The signed-in customer's recovery codes: how many are left, and a new set that replaces every earlier code."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from services.auth import models, recovery_codes
from services.auth.callers import CustomerDep
from services.auth.runtime import RuntimeDep
from services.auth.schemas import RecoveryCodes, RecoveryCodesLeft
from shared.dependencies import SessionDep, only_from
from shared.problems import Problem, problem_responses

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["profile"], dependencies=[only_from("gateway")])


@router.get(
    "/v1/me/recovery-codes",
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def count_recovery_codes(caller: CustomerDep, session: SessionDep) -> RecoveryCodesLeft:
    """How many unused codes are left; never the codes, which were shown once."""
    return RecoveryCodesLeft(remaining=await recovery_codes.remaining(session, caller.subject))


@router.post(
    "/v1/me/recovery-codes",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "not_found"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def regenerate_recovery_codes(caller: CustomerDep, session: SessionDep, runtime: RuntimeDep) -> RecoveryCodes:
    """A new set of codes, shown this once; the old set stops working at once, and the customer is told on every
    contact. The gateway demands a fresh step-up for it (operation `mfa_change`)."""
    if not caller.mfa:  # as for enrolling an app: the password alone never mints a factor
        raise Problem("This change needs a session signed in with two factors.", code="mfa_required", status=403)
    c = models.customer
    customer = (await session.execute(select(c).where(c.c.id == caller.subject))).first()
    if customer is None:
        raise Problem("No such customer.", code="not_found", status=404)
    now = runtime.clock.now()
    codes = await recovery_codes.replace_set(session, runtime.cipher, customer.id, now=now)
    await recovery_codes.announce_regeneration(
        session, runtime.outbox, runtime.cipher, customer, device_id=caller.device_id, now=now
    )
    return RecoveryCodes(recovery_codes=codes, remaining=len(codes))
