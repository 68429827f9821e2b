"""Routes of passkeys: the customer registers, lists, renames and removes them; anyone signs in with one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from services.auth import accounts, device_blocks, devices, lockout, login, models, passkeys, sessions
from services.auth.callers import Caller, CustomerDep
from services.auth.errors import PasskeyInvalid
from services.auth.runtime import AuthRuntime, RuntimeDep
from services.auth.schemas import (
    PasskeyAuthenticationOptions,
    PasskeyLogin,
    PasskeyLoginOptions,
    PasskeyRegistered,
    PasskeyRegistration,
    PasskeyRegistrationOptions,
    PasskeyRename,
    PasskeyView,
    Tokens,
)
from shared.contracts.notifications import EventType, MfaChangedData
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.events import record_event
from shared.notifications import send_notification
from shared.problems import Problem, problem_responses

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["passkeys"], dependencies=[only_from("gateway")])


def _require_mfa_session(caller: Caller) -> None:
    # As for an authenticator app: the password alone cannot add an attacker's passkey.
    if not caller.mfa:
        raise Problem("This change needs a session signed in with two factors.", code="mfa_required", status=403)


async def _customer(session: AsyncSession, customer_id: str) -> Any:
    row = (await session.execute(select(models.customer).where(models.customer.c.id == customer_id))).first()
    if row is None:
        raise Problem("No such customer.", code="not_found", status=404)
    return row


async def _announce(
    session: AsyncSession,
    runtime: AuthRuntime,
    row: Any,
    *,
    change: Literal["enrolled", "removed"],
    passkey_id: str,
    caller: Caller,
    now: datetime,
) -> None:
    """A passkey added or removed: the customer hears of it on the contacts registered before the change, and fraud
    sees it (a passkey added by someone else would be their way in)."""
    contact = accounts.contact_of(row, runtime.cipher)
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:mfa:{row.id}:passkey:{passkey_id}:{change}",
        event_type=EventType.MFA_CHANGED,
        customer_id=row.id,
        language=row.language,
        email=contact.email,
        phone=contact.phone,
        data=MfaChangedData.model_construct(at=now, change=change, factor="passkey"),
    )
    await record_event(
        runtime.outbox,
        session,
        type="factor_changed",
        occurred_at=now,
        customer_id=row.id,
        device_id=caller.device_id,
        data={"change": change, "factor": "passkey", "passkey_id": passkey_id},
    )


@router.post(
    "/v1/me/passkeys/registration",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "not_found"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def start_registration(
    caller: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> PasskeyRegistrationOptions:
    """Options for navigator.credentials.create(): a discoverable passkey with user verification, none of the
    customer's own passkeys again. The gateway asks for a step-up first (`mfa_change`)."""
    _require_mfa_session(caller)
    row = await _customer(session, caller.subject)
    email = accounts.contact_of(row, runtime.cipher).email
    ceremony = await passkeys.start_registration(
        session, customer_id=row.id, user_name=email, now=runtime.clock.now(), config=runtime.webauthn()
    )
    return PasskeyRegistrationOptions(registration_id=ceremony.ceremony_id, options=ceremony.options)


@router.post(
    "/v1/me/passkeys/registration/{registration_id}",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "ceremony_not_found"),
        (404, "not_found"),
        (409, "passkey_exists"),
        (410, "ceremony_expired"),
        (422, "passkey_invalid"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def finish_registration(
    registration_id: str, body: PasskeyRegistration, caller: CustomerDep, runtime: RuntimeDep
) -> PasskeyRegistered:
    """The browser's credential (PublicKeyCredential as JSON): verified against this registration's challenge, the
    relying party and the configured origins, then kept; the customer is told."""
    _require_mfa_session(caller)
    now = runtime.clock.now()
    async with passkeys.registered(
        runtime.database,
        registration_id,
        holder_id=caller.subject,
        credential=body.credential,
        name=body.name,
        now=now,
        config=runtime.webauthn(),
    ) as (session, stored):
        row = await _customer(session, caller.subject)
        await _announce(session, runtime, row, change="enrolled", passkey_id=stored.id, caller=caller, now=now)
        return PasskeyRegistered(passkey_id=stored.id, name=stored.name, kind=stored.kind, created_at=stored.created_at)


@router.get(
    "/v1/me/passkeys",
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def list_passkeys(caller: CustomerDep, session: SessionDep) -> list[PasskeyView]:
    return [PasskeyView(**passkeys.view(row)) for row in await passkeys.passkeys_of(session, caller.subject)]


@router.patch(
    "/v1/me/passkeys/{passkey_id}",
    responses=problem_responses(
        (401, "unauthorized"), (404, "passkey_not_found"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def rename_passkey(passkey_id: str, body: PasskeyRename, caller: CustomerDep, session: SessionDep) -> PasskeyView:
    """Only the customer's name for it changes: what the passkey proves does not."""
    await passkeys.owned_passkey(session, passkey_id, customer_id=caller.subject)
    p = models.passkey
    await session.execute(p.update().where(p.c.id == passkey_id).values(name=body.name))
    row = await passkeys.owned_passkey(session, passkey_id, customer_id=caller.subject)
    return PasskeyView(**passkeys.view(row))


@router.delete(
    "/v1/me/passkeys/{passkey_id}",
    status_code=204,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "not_found"),
        (404, "passkey_not_found"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def remove_passkey(passkey_id: str, caller: CustomerDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Removed at once (the gateway asks for a step-up first, `mfa_change`); the customer is told."""
    _require_mfa_session(caller)
    await passkeys.owned_passkey(session, passkey_id, customer_id=caller.subject)
    now = runtime.clock.now()
    p = models.passkey
    await session.execute(p.delete().where(p.c.id == passkey_id))
    row = await _customer(session, caller.subject)
    await _announce(session, runtime, row, change="removed", passkey_id=passkey_id, caller=caller, now=now)
    return Response(status_code=204)


@router.post("/v1/auth/passkeys/options")
async def login_options(
    body: PasskeyLoginOptions, session: SessionDep, runtime: RuntimeDep
) -> PasskeyAuthenticationOptions:
    """Options for navigator.credentials.get(). Without a login id: any discoverable passkey may answer (empty
    allowCredentials). With one: its passkeys, or for an id that names no account a made-up passkey that stays the
    same, so that the answer does not tell whether the id exists."""
    allowed: list[Any] = []
    if body.login_id:
        index = accounts.email_index(runtime.cipher, body.login_id)
        c = models.customer
        found = (await session.execute(select(c.c.id).where(c.c.email_index == index))).first()
        allowed = await passkeys.passkeys_of(session, found.id) if found is not None else []
        if not allowed:
            allowed = [passkeys.decoy_passkey(runtime.cipher, body.login_id)]
    ceremony = await passkeys.start_authentication(
        session,
        purpose="login",
        allowed=allowed,
        customer_id=None,
        challenge_id=None,
        now=runtime.clock.now(),
        config=runtime.webauthn(),
    )
    return PasskeyAuthenticationOptions(authentication_id=ceremony.ceremony_id, options=ceremony.options)


@router.post(
    "/v1/auth/passkeys/login",
    responses={
        200: {"model": Tokens},
        **problem_responses(
            (401, "passkey_invalid"),
            (403, "device_blocked"),
            (404, "ceremony_not_found"),
            (404, "not_found"),
            (410, "ceremony_expired"),
            (423, "account_locked"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def passkey_login(
    body: PasskeyLogin, identity: IdentityDep, runtime: RuntimeDep, user_agent: Annotated[str, Header()] = ""
) -> JSONResponse:
    """A passkey login: a phishing-resistant two-factor login (acr aal2, amr hwk|swk + user). It counts as any login:
    a new device is noticed (AUTH-LOGIN-2), and a locked account cannot log in (AUTH-LOGIN-3)."""
    ip = str(identity.context.get("client_ip", "unknown"))
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        challenge = await passkeys.claim_ceremony(
            session, body.authentication_id, purpose="login", customer_id=None, now=now
        )
    credential_id = passkeys.credential_id_of(body.credential)
    try:
        async with runtime.database.transaction() as session:
            issued = await _log_in(
                session, runtime, body, credential_id=credential_id, challenge=challenge, ip=ip, user_agent=user_agent
            )
    except PasskeyInvalid as refused:
        await _record_refusal(runtime, refused, body, credential_id=credential_id, ip=ip)
        raise
    return JSONResponse(
        Tokens(
            access_token=issued.access_token,
            expires_in=issued.expires_in,
            refresh_token=issued.refresh_token,
            session_id=issued.session_id,
            acr=issued.acr,
        ).model_dump()
    )


async def _log_in(
    session: AsyncSession,
    runtime: AuthRuntime,
    body: PasskeyLogin,
    *,
    credential_id: str,
    challenge: bytes,
    ip: str,
    user_agent: str,
) -> sessions.IssuedTokens:
    now = runtime.clock.now()
    row = await passkeys.find_passkey(session, credential_id)
    if row is None:
        raise PasskeyInvalid("The passkey could not be verified.")
    device = await devices.find_device(session, row.customer_id, body.device_id)
    known = device is not None and device.trusted_at is not None
    guard = await lockout.load_guard(session, row.customer_id)
    lockout.ensure_unlocked(guard, known=known, now=now)
    asserted = await passkeys.verify_assertion(
        session, row, credential=body.credential, challenge=challenge, now=now, config=runtime.webauthn()
    )
    if guard is not None and lockout.needs_reset(guard, known=known):
        await lockout.record_success(session, row.customer_id, known=known, now=now)
    if await device_blocks.is_blocked(session, row.customer_id, device_key=body.device_id, now=now):
        raise device_blocks.refused()  # SEC-3: a passkey on an infected phone signs in no more than a password
    customer = await _customer(session, row.customer_id)
    return await login.complete_login(
        session,
        customer_row=customer,
        pending={"device_key": body.device_id, "ip": ip, "user_agent": user_agent},
        factors=list(asserted.factors),
        deps=runtime.login_deps(),
        signer=runtime.signer,
        token_policy=runtime.token_policy,
        notify_every_login=runtime.settings.notify_every_login,
    )


async def _record_refusal(
    runtime: AuthRuntime, refused: PasskeyInvalid, body: PasskeyLogin, *, credential_id: str, ip: str
) -> None:
    """Fraud sees every refused passkey login; a cloned authenticator (its counter went backwards) as such."""
    now = runtime.clock.now()
    clone = refused if isinstance(refused, passkeys.CloneSuspected) else None
    async with runtime.database.transaction() as session:
        owner = await passkeys.find_passkey(session, credential_id)
        await record_event(
            runtime.outbox,
            session,
            type="passkey_clone_suspected" if clone else "login_failed",
            occurred_at=now,
            customer_id=owner.customer_id if owner is not None else None,
            ip=ip,
            outcome="refused" if clone else "passkey_invalid",
            data={
                "device_key": body.device_id,
                "passkey_id": owner.id if owner is not None else None,
                **(clone.counts() if clone else {}),
            },
        )
