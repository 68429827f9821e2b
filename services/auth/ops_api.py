"""Staff routes of auth: staff login, and the customer actions of API.md's Ops API (each role checked again here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import select
from starlette.responses import JSONResponse

from services.auth import accounts, audit, customer_search, lockout, models, sessions, staff, verification
from services.auth.callers import StaffDep, require_role
from services.auth.runtime import RuntimeDep
from services.auth.schemas import (
    AuditEntryView,
    AuditPage,
    CustomerFound,
    CustomerLocked,
    CustomerSearch,
    CustomersFound,
    CustomerUnlocked,
    CustomerView,
    RefreshRequest,
    SessionsRevoked,
    StaffLoggedOut,
    StaffLogin,
    StaffUnlocked,
    Tokens,
    VerifyRequest,
)
from shared.audit import Actor
from shared.contracts.sessions import SESSIONS_ENDED_HEADER
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.identity import ServiceIdentity
from shared.masking import mask_address, mask_email, mask_phone
from shared.problems import STAFF_ROUTE_PROBLEMS, Problem, problem_response, problem_responses
from shared.roles import refuse_outsourced

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["ops"], dependencies=[only_from("gateway")])


STAFF_VERIFY_PATH = "/v1/ops/auth/challenges/{challenge_id}/verify"


@router.post(
    "/v1/ops/auth/login",
    responses={
        200: {"model": Tokens},
        **problem_responses(
            (401, "invalid_credentials"),
            (401, "mfa_required"),
            (423, "account_locked"),
            (429, "too_many_attempts"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def staff_login(body: StaffLogin, runtime: RuntimeDep, identity: IdentityDep) -> JSONResponse:
    """Staff always need a password and a second factor: the answer is a challenge, never a token, to be answered
    at the staff route (`verify`), which no kill switch, customer IP rule or fraud list can block: by a TOTP code, or
    (`methods` lists `passkey`, with `passkey`: the WebAuthn options) by one of the member's passkeys."""
    started = await staff.staff_password_login(
        login_id=body.login_id,
        password=body.password,
        ip=str(identity.context.get("client_ip", "unknown")),
        runtime=runtime,
    )
    challenge_id = started.challenge_id
    offer = {"passkey": started.passkey} if started.passkey is not None else {}
    return problem_response(
        401,
        "mfa_required",
        "Staff sign-in needs the authenticator code.",
        challenge={
            "id": challenge_id,
            "methods": started.methods,
            **offer,
            "caution": runtime.caution("ja"),
            "expires_in": runtime.settings.challenge_ttl_seconds,
            "operation": "ops_login",
            "verify": STAFF_VERIFY_PATH.format(challenge_id=challenge_id),
        },
    )


@router.post(
    STAFF_VERIFY_PATH,
    responses={
        200: {"model": Tokens},
        **problem_responses(
            (401, "challenge_failed"),
            (401, "passkey_invalid"),
            (404, "challenge_not_found"),
            (410, "challenge_expired"),
            (423, "account_locked"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def staff_verify(
    challenge_id: str, body: VerifyRequest, runtime: RuntimeDep, identity: IdentityDep
) -> JSONResponse:
    """The TOTP code of a staff sign-in challenge, or (`method` "passkey", `credential`) an assertion by one of the
    staff member's passkeys for the options the challenge gave: the staff token. Customer challenges are not
    answered here (404)."""
    verified = await verification.verify_answer(
        runtime,
        challenge_id,
        method=body.method,
        code=body.code,
        credential=body.credential,
        ip=str(identity.context.get("client_ip", "unknown")),
        staff_route=True,
    )
    issued = verified.tokens
    assert issued is not None
    tokens = Tokens(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        session_id=issued.session_id,
        acr=issued.acr,
    )
    return JSONResponse(tokens.model_dump())


@router.post(
    "/v1/ops/auth/refresh",
    responses={
        200: {"model": Tokens},
        **problem_responses((401, "session_expired"), (401, "token_invalid"), (401, "token_reused")),
    },
)
async def staff_refresh(body: RefreshRequest, runtime: RuntimeDep) -> JSONResponse:
    """A new access token and refresh token for the shift's session. A refresh token used twice ends the session
    (401 `token_reused`); after the idle timeout or the end of the shift, or once the staff member is disabled or
    locked, 401 `session_expired` (`reason`): sign in again with password and TOTP."""
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        outcome = await staff.refresh_staff_session(session, body.refresh_token, now=now, runtime=runtime)
    if isinstance(outcome, sessions.Ended):
        raise sessions.refused(outcome)  # after the commit: the session stays ended
    tokens = Tokens(
        access_token=outcome.access_token,
        expires_in=outcome.expires_in,
        refresh_token=outcome.refresh_token,
        session_id=outcome.session_id,
        acr=outcome.acr,
    )
    return JSONResponse(tokens.model_dump())


@router.post(
    "/v1/ops/staff/{staff_id}/unlock",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def unlock_staff(
    staff_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> StaffUnlocked:
    """Lift a staff member's lock (admin): a hard lock after repeated failures lasts until this."""
    require_role(caller, "admin")
    found = (await session.execute(select(models.staff.c.id).where(models.staff.c.id == staff_id))).first()
    if found is None:
        raise Problem("No such staff member.", code="not_found", status=404)
    now = runtime.clock.now()
    await lockout.unlock(session, staff_id, now=now)
    await audit.record(
        session,
        Actor.of(identity),
        action="staff.unlock",
        target_type="staff",
        target_id=staff_id,
        now=now,
        key=runtime.audit_key,
    )
    return StaffUnlocked(staff_id=staff_id, locked=False)


@router.post(
    "/v1/ops/auth/logout",
    status_code=200,
    # A raw answer: it carries the header of the session ended, which the gateway reads.
    responses={
        200: {"model": StaffLoggedOut},
        **problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
    },
)
async def staff_logout(
    caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> JSONResponse:
    """End this staff session and its refresh token: its access token stops working at the gateway that forwarded
    this at once, at the others within seconds."""
    now = runtime.clock.now()
    await sessions.revoke(session, caller.session_id, now=now, reason="logout")
    await audit.record(
        session,
        Actor.of(identity),
        action="staff.logout",
        target_type="staff",
        target_id=caller.subject,
        now=now,
        key=runtime.audit_key,
    )
    return JSONResponse(StaffLoggedOut(ended=True).model_dump(), headers={SESSIONS_ENDED_HEADER: caller.session_id})


async def _customer(session: Any, customer_id: str) -> Any:
    row = (await session.execute(select(models.customer).where(models.customer.c.id == customer_id))).first()
    if row is None:
        raise Problem("No such customer.", code="not_found", status=404)
    return row


@router.post(
    "/v1/ops/customers/search",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def search_customers(
    body: CustomerSearch, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> CustomersFound:
    """The customers with this e-mail address or phone number, masked (analyst). Audited with which customers were
    shown and whether by e-mail or phone; never with the value searched."""
    require_role(caller, "analyst")
    found = await customer_search.find_customers(session, runtime.cipher, email=body.email, phone=body.phone)
    await audit.record(
        session,
        Actor.of(identity),
        action="customer.search",
        target_type="customer",
        target_id="*",
        now=runtime.clock.now(),
        key=runtime.audit_key,
        detail={"by": "email" if body.email is not None else "phone", "customers": [c["customer_id"] for c in found]},
    )
    return CustomersFound(customers=[CustomerFound(**customer) for customer in found])


@router.get(
    "/v1/ops/customers/{customer_id}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (403, "outsourced_restricted"),
        (404, "not_found"),
        (422, "reason_required"),
    ),
)
async def view_customer(
    customer_id: str,
    caller: StaffDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
    full: bool = False,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> CustomerView:
    """Masked attributes (DATA-1): an analyst sees enough to recognise the customer, not to use the data.

    `full=true` shows the values themselves, to supervisors and admins only, and only with a `reason` (422
    `reason_required`), which the audit entry keeps. Every read is audited (SEC-6).
    """
    require_role(caller, "supervisor" if full else "analyst")
    if full:
        refuse_outsourced(identity, "see a customer's full values")
    why = (reason or "").strip()
    if full and not why:
        raise Problem(
            "Full values need a reason (why this customer's data is needed now); it is kept in the audit trail.",
            code="reason_required",
            status=422,
        )
    row = await _customer(session, customer_id)
    contact = accounts.contact_of(row, runtime.cipher)
    address = runtime.cipher.open(row.address, context="customer.address")
    guard = (
        await session.execute(select(models.login_guard).where(models.login_guard.c.customer_id == customer_id))
    ).first()
    await audit.record(
        session,
        Actor.of(identity),
        action="customer.view",
        target_type="customer",
        target_id=customer_id,
        now=runtime.clock.now(),
        key=runtime.audit_key,
        detail={"full": True, "reason": why} if full else {"full": False},
    )
    return CustomerView(
        customer_id=row.id,
        email=contact.email if full else mask_email(contact.email),
        phone=contact.phone if full else mask_phone(contact.phone),
        address=address if full else mask_address(address),
        kyc_status=row.kyc_status,
        **_locks(guard, runtime.clock.now()),
        password_reset_required=row.password_invalidated_at is not None,
        created_at=row.created_at.isoformat(),
    )


def _locks(guard: Any, now: datetime) -> dict[str, Any]:
    """What stops the customer now: `locked` on every device (a staff lock, or failures from the customer's own
    devices), and apart from it the lock of devices never used before (failures from strangers), which leaves the
    customer's own phone working but is what a customer calling the desk from a new phone meets."""

    def until(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None and value > now else None

    if guard is None:
        return {"locked": False, "locked_until": None, "new_devices_locked": False, "new_devices_locked_until": None}
    own_until, new_until = until(guard.known_locked_until), until(guard.stranger_locked_until)
    locked = guard.hard_locked_at is not None or own_until is not None
    new_devices = locked or guard.stranger_hard_locked_at is not None or new_until is not None
    return {
        "locked": locked,
        "locked_until": None if guard.hard_locked_at is not None else own_until,
        "new_devices_locked": new_devices,
        "new_devices_locked_until": None if locked or guard.stranger_hard_locked_at is not None else new_until,
    }


@router.post(
    "/v1/ops/customers/{customer_id}/lock",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def lock_customer(
    customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> CustomerLocked:
    """Stop a customer (INC-1): a hard lock and every session ended."""
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    now = runtime.clock.now()
    await lockout.hard_lock(session, customer_id, now=now, reason="staff")
    ended = await sessions.revoke_all(session, customer_id, now=now, reason="staff_lock")
    await _audit(session, identity, "customer.lock", customer_id, now, {"sessions_ended": ended}, key=runtime.audit_key)
    return CustomerLocked(locked=True, sessions_ended=ended)


@router.post(
    "/v1/ops/customers/{customer_id}/unlock",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def unlock_customer(
    customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> CustomerUnlocked:
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    now = runtime.clock.now()
    await lockout.unlock(session, customer_id, now=now)
    await _audit(session, identity, "customer.unlock", customer_id, now, {}, key=runtime.audit_key)
    return CustomerUnlocked(locked=False)


@router.post(
    "/v1/ops/customers/{customer_id}/sessions/revoke",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
    ),
)
async def revoke_sessions(
    customer_id: str, caller: StaffDep, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> SessionsRevoked:
    require_role(caller, "supervisor")
    await _customer(session, customer_id)
    now = runtime.clock.now()
    ended = await sessions.revoke_all(session, customer_id, now=now, reason="staff_revoke")
    await _audit(
        session,
        identity,
        "customer.sessions_revoke",
        customer_id,
        now,
        {"sessions_ended": ended},
        key=runtime.audit_key,
    )
    return SessionsRevoked(sessions_ended=ended)


async def _audit(
    session: Any,
    identity: ServiceIdentity,
    action: str,
    customer_id: str,
    now: datetime,
    detail: dict[str, Any],
    *,
    key: bytes,
) -> None:
    await audit.record(
        session,
        Actor.of(identity),
        action=action,
        target_type="customer",
        target_id=customer_id,
        now=now,
        key=key,
        detail=detail,
    )


@router.get(
    "/v1/ops/audit",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (403, "outsourced_restricted"),
        (422, "cursor_invalid"),
    ),
)
async def search_audit(
    caller: StaffDep,
    session: SessionDep,
    runtime: RuntimeDep,
    identity: IdentityDep,
    actor: Annotated[str | None, Query(max_length=40)] = None,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
    target_id: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    outsourced: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """Staff actions and reads of customer data of every service, newest first (admin, SEC-6), a page at a time
    (`next_cursor`). `customer_id`: the entries about that customer, as the target or named in the detail (a
    search that returned them, a list filtered by them). `outsourced`: only (or no) outsourced operators' entries.

    Reading the trail is itself recorded.
    """
    require_role(caller, "admin")
    refuse_outsourced(identity, "read the audit trail")
    filters = audit.Filters(
        actor_id=actor,
        customer_id=customer_id,
        target_id=target_id,
        action=action,
        since=since,
        until=until,
        outsourced=outsourced,
    )
    entries, next_cursor = await audit.search(session, filters, limit=limit, cursor=cursor)
    asked = {
        "actor": actor, "customer_id": customer_id, "target_id": target_id, "action": action, "since": since,
        "until": until, "outsourced": outsourced, "cursor": cursor,
    }  # fmt: skip
    await audit.record(
        session,
        Actor.of(identity),
        action="audit.search",
        target_type="audit",
        target_id="*",
        now=runtime.clock.now(),
        key=runtime.audit_key,
        detail={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asked.items() if v is not None},
    )
    return AuditPage(entries=[AuditEntryView(**entry) for entry in entries], next_cursor=next_cursor)
