"""Staff routes of auth: staff login, and the customer actions of API.md's Ops API (each role checked again here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import JSONResponse

from services.auth import accounts, lockout, models, sessions, staff
from services.auth.callers import StaffDep, require_role
from services.auth.runtime import RuntimeDep
from services.auth.schemas import StaffLogin
from shared.dependencies import SessionDep
from shared.masking import mask_address, mask_email, mask_phone
from shared.problems import Problem, problem_response

router = APIRouter(tags=["ops"])


@router.post("/v1/ops/auth/login")
async def staff_login(body: StaffLogin, session: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    """Staff always need password and TOTP: the answer is a TOTP challenge, never a token."""
    challenge_id = await staff.staff_password_login(
        session, login_id=body.login_id, password=body.password, runtime=runtime
    )
    return problem_response(
        401,
        "mfa_required",
        "Staff sign-in needs the authenticator code.",
        challenge={
            "id": challenge_id,
            "methods": ["totp"],
            "caution": runtime.caution("ja"),
            "expires_in": runtime.settings.challenge_ttl_seconds,
            "operation": "ops_login",
        },
    )


@router.post("/v1/ops/auth/logout", status_code=200)
async def staff_logout(caller: StaffDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """End this staff session: its token stops working at the gateway within seconds."""
    await sessions.revoke(session, caller.session_id, now=runtime.clock.now(), reason="logout")
    return {"ended": True}


async def _customer(session: Any, customer_id: str) -> Any:
    row = (await session.execute(select(models.customer).where(models.customer.c.id == customer_id))).first()
    if row is None:
        raise Problem("No such customer.", code="not_found", status=404)
    return row


@router.get("/v1/ops/customers/{customer_id}")
async def view_customer(customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Masked attributes (DATA-1): an analyst sees enough to recognise the customer, not to use the data."""
    require_role(caller, "analyst")
    row = await _customer(session, customer_id)
    contact = accounts.contact_of(row, runtime.cipher)
    guard = (
        await session.execute(select(models.login_guard).where(models.login_guard.c.customer_id == customer_id))
    ).first()
    return {
        "customer_id": row.id,
        "email": mask_email(contact.email),
        "phone": mask_phone(contact.phone),
        "address": mask_address(runtime.cipher.open(row.address, context="customer.address")),
        "kyc_status": row.kyc_status,
        "locked": guard is not None and (guard.hard_locked_at is not None or guard.known_locked_until is not None),
        "created_at": row.created_at.isoformat(),
    }


@router.post("/v1/ops/customers/{customer_id}/lock")
async def lock_customer(customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Stop a customer (INC-1): a hard lock and every session ended."""
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    now = runtime.clock.now()
    await lockout.hard_lock(session, customer_id, now=now, reason="staff")
    ended = await sessions.revoke_all(session, customer_id, now=now, reason="staff_lock")
    return {"locked": True, "sessions_ended": ended}


@router.post("/v1/ops/customers/{customer_id}/unlock")
async def unlock_customer(
    customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    await lockout.unlock(session, customer_id, now=runtime.clock.now())
    return {"locked": False}


@router.post("/v1/ops/customers/{customer_id}/sessions/revoke")
async def revoke_sessions(
    customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    ended = await sessions.revoke_all(session, customer_id, now=runtime.clock.now(), reason="staff_revoke")
    return {"sessions_ended": ended}
