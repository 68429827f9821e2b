"""Staff passkeys: a staff member registers, lists and removes their own, to sign in with one instead of a TOTP code.

The WebAuthn ceremonies are the customers' (passkeys.py) on a keyring of their own (passkeys.STAFF): a customer's
passkey never signs a staff member in, nor the reverse. Adding or removing one needs a fresh sign-in: the second
factor (TOTP or a passkey) within the last minutes (AuthSettings.staff_passkey_fresh_seconds), else 401
`fresh_sign_in_required`, so that a session left open on a desk cannot enrol someone else's authenticator. Each
call is in the audit trail (SEC-6), in the transaction of what it did.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from starlette.responses import Response

from services.auth import audit, models, passkeys
from services.auth.callers import Caller, StaffDep, require_role
from services.auth.runtime import AuthRuntime, RuntimeDep
from services.auth.schemas import PasskeyRegistered, PasskeyRegistration, PasskeyRegistrationOptions, PasskeyView
from shared.audit import Actor
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_responses

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["ops"], dependencies=[only_from("gateway")])


def require_fresh_sign_in(caller: Caller, runtime: AuthRuntime) -> None:
    """The session's second factor (TOTP, or a passkey) was verified within the last minutes."""
    now = int(runtime.clock.now().timestamp())
    proved = [factor.at for factor in caller.factors if factor.cls == "possession"]
    if not proved or now - max(proved) > runtime.settings.staff_passkey_fresh_seconds:
        raise Problem(
            "Sign in again (password and authenticator code) to change your passkeys.",
            code="fresh_sign_in_required",
            status=401,
        )


async def _login_id(session: Any, staff_id: str) -> str:
    s = models.staff
    row = (await session.execute(select(s.c.login_id).where(s.c.id == staff_id))).first()
    if row is None:
        raise Problem("No such staff member.", code="not_found", status=404)
    return str(row.login_id)


async def _audit(
    session: Any, runtime: AuthRuntime, identity: IdentityDep, action: str, target: str, detail: dict[str, Any]
) -> None:
    await audit.record(
        session,
        Actor.of(identity),
        action=action,
        target_type="staff_passkey",
        target_id=target,
        now=runtime.clock.now(),
        key=runtime.audit_key,
        detail=detail,
    )


@router.post(
    "/v1/ops/auth/passkeys/registration",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (401, "fresh_sign_in_required"),
        (404, "not_found"),
    ),
)
async def start_registration(
    caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> PasskeyRegistrationOptions:
    """Options for navigator.credentials.create(): a discoverable passkey with user verification, none of the staff
    member's own passkeys again."""
    require_role(caller, "analyst")
    require_fresh_sign_in(caller, runtime)
    ceremony = await passkeys.start_registration(
        session,
        customer_id=caller.subject,
        user_name=await _login_id(session, caller.subject),
        now=runtime.clock.now(),
        config=runtime.webauthn(),
        keyring=passkeys.STAFF,
    )
    await _audit(session, runtime, identity, "staff.passkey_registration", caller.subject, {})
    return PasskeyRegistrationOptions(registration_id=ceremony.ceremony_id, options=ceremony.options)


@router.post(
    "/v1/ops/auth/passkeys/registration/{registration_id}",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (401, "fresh_sign_in_required"),
        (404, "ceremony_not_found"),
        (409, "passkey_exists"),
        (410, "ceremony_expired"),
        (422, "passkey_invalid"),
    ),
)
async def finish_registration(
    registration_id: str, body: PasskeyRegistration, caller: StaffDep, runtime: RuntimeDep, identity: IdentityDep
) -> PasskeyRegistered:
    """The browser's credential, verified against this registration's challenge, relying party and origins, kept."""
    require_role(caller, "analyst")
    require_fresh_sign_in(caller, runtime)
    async with passkeys.registered(
        runtime.database,
        registration_id,
        holder_id=caller.subject,
        credential=body.credential,
        name=body.name,
        now=runtime.clock.now(),
        config=runtime.webauthn(),
        keyring=passkeys.STAFF,
    ) as (session, stored):
        await _audit(session, runtime, identity, "staff.passkey_add", stored.id, {"kind": stored.kind})
        return PasskeyRegistered(passkey_id=stored.id, name=stored.name, kind=stored.kind, created_at=stored.created_at)


@router.get(
    "/v1/ops/auth/passkeys",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_passkeys(
    caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> list[PasskeyView]:
    """The caller's own passkeys (never another staff member's)."""
    require_role(caller, "analyst")
    rows = await passkeys.passkeys_of(session, caller.subject, passkeys.STAFF)
    await _audit(session, runtime, identity, "staff.passkey_list", caller.subject, {"count": len(rows)})
    return [PasskeyView(**passkeys.view(row)) for row in rows]


@router.delete(
    "/v1/ops/auth/passkeys/{passkey_id}",
    status_code=204,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (401, "fresh_sign_in_required"),
        (404, "passkey_not_found"),
    ),
)
async def remove_passkey(
    passkey_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> Response:
    """One of the caller's own passkeys removed at once; another's is 404 `passkey_not_found`, as a missing one."""
    require_role(caller, "analyst")
    require_fresh_sign_in(caller, runtime)
    await passkeys.held_passkey(session, passkey_id, holder_id=caller.subject, keyring=passkeys.STAFF)
    p = models.staff_passkey
    await session.execute(p.delete().where(p.c.id == passkey_id))
    await _audit(session, runtime, identity, "staff.passkey_remove", passkey_id, {})
    return Response(status_code=204)
