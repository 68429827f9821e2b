"""The signed-in customer's own routes: profile view and change, password change, devices, authenticator enrolment."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from services.auth import accounts, contact_changes, devices, kyc_status, models, recovery_codes, totp
from services.auth.callers import Caller, CustomerDep
from services.auth.errors import LoginFailed
from services.auth.runtime import AuthRuntime, RuntimeDep
from services.auth.schemas import (
    ContactChanged,
    ContactCode,
    DeviceRemoved,
    DeviceView,
    PasswordChange,
    PasswordChanged,
    PendingContactChange,
    Profile,
    ProfileChange,
    ProfileChanged,
    TotpConfirm,
    TotpEnrolled,
    TotpEnrolment,
)
from shared.contracts.notifications import (
    AttributeChangedData,
    ChangedAttribute,
    DeviceRemovedData,
    EventType,
    MfaChangedData,
    OneTimeCodeData,
    PasswordChangedData,
    RecipientRole,
)
from shared.contracts.sessions import SESSIONS_ENDED_HEADER
from shared.dependencies import SessionDep, only_from
from shared.events import record_event
from shared.notifications import send_notification
from shared.problems import Problem, invalid, problem_responses

# Public routes: only the gateway forwards them (it alone authenticates the caller and applies policy).
router = APIRouter(tags=["profile"], dependencies=[only_from("gateway")])


async def _customer(session: AsyncSession, caller: Caller) -> Any:
    row = (await session.execute(select(models.customer).where(models.customer.c.id == caller.subject))).first()
    if row is None:
        raise Problem("No such customer.", code="not_found", status=404)
    return row


def _require_mfa_session(caller: Caller) -> None:
    # Enrolling a factor needs the session's existing MFA: the password alone cannot add an attacker's app.
    if not caller.mfa:
        raise Problem("This change needs a session signed in with two factors.", code="mfa_required", status=403)


@router.get(
    "/v1/me",
    responses=problem_responses(
        (401, "unauthorized"), (404, "not_found"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def get_me(caller: CustomerDep, session: SessionDep, runtime: RuntimeDep) -> Profile:
    row = await _customer(session, caller)
    c = runtime.cipher
    return Profile(
        customer_id=row.id,
        email=c.open(row.email, context="customer.email"),
        phone=c.open(row.phone, context="customer.phone"),
        name=c.open(row.name, context="customer.name"),
        name_kana=c.open(row.name_kana, context="customer.name_kana"),
        birth_date=c.open(row.birth_date, context="customer.birth_date"),
        address=c.open(row.address, context="customer.address"),
        language=row.language,
        kyc_status=row.kyc_status,
    )


@router.patch(
    "/v1/me",
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "step_up_method_refused"),
        (404, "not_found"),
        (409, "email_unavailable"),
        (422, "validation_failed"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def patch_me(
    body: ProfileChange, caller: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> ProfileChanged:
    """Change the address at once; an e-mail or phone change waits for the code sent to the new contact
    (contact_changes.py) and must have been stepped up with an SMS code or TOTP, never e-mail."""
    row = await _customer(session, caller)
    changes = {name: value for name, value in body.model_dump().items() if value is not None}
    if not changes:
        raise Problem("Nothing to change.", code="validation_failed", status=422)
    contacts = [name for name in contact_changes.CONTACT_ATTRIBUTES if name in changes]
    if len(contacts) > 1:
        raise invalid("phone", "Change the e-mail address and the phone number one at a time.")
    if contacts:
        contact_changes.ensure_strong_step_up(caller.step_up)
    if "email" in changes:
        await _ensure_email_free(session, runtime, changes["email"], row.id)
    now = runtime.clock.now()
    at_once = {name: value for name, value in changes.items() if name not in contacts}
    if at_once:
        await _apply(session, runtime, row, at_once, caller=caller, now=now)
    waiting: PendingContactChange | None = None
    if contacts:
        attribute = contacts[0]
        started = await contact_changes.start(
            session,
            customer_id=row.id,
            attribute=attribute,
            value=changes[attribute],
            cipher=runtime.cipher,
            now=now,
            ttl_seconds=runtime.settings.challenge_ttl_seconds,
        )
        # The code goes to the NEW contact only: entering it proves the customer holds it.
        await send_notification(
            runtime.outbox,
            session,
            key=f"auth:contact-code:{started.change_id}",
            event_type=EventType.ONE_TIME_CODE,
            customer_id=row.id,
            language=row.language,
            email=changes[attribute] if attribute == "email" else None,
            phone=changes[attribute] if attribute == "phone" else None,
            channel="email" if attribute == "email" else "sms",
            data=OneTimeCodeData.model_construct(
                code=started.code, expires_in=started.expires_in, operation="profile_change"
            ),
        )
        waiting = PendingContactChange(
            change_id=started.change_id,
            attribute=attribute,
            expires_in=started.expires_in,
        )
    return ProfileChanged(changed=sorted(at_once), pending=waiting)


@router.post(
    "/v1/me/contacts/{change_id}/verify",
    responses=problem_responses(
        (401, "challenge_failed"),
        (401, "unauthorized"),
        (404, "contact_change_not_found"),
        (404, "not_found"),
        (409, "email_unavailable"),
        (410, "challenge_expired"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def verify_contact(change_id: str, body: ContactCode, caller: CustomerDep, runtime: RuntimeDep) -> ContactChanged:
    """The code sent to the new e-mail address or phone number: the change takes effect, and the old and the new
    contact are told. Five wrong codes end the change."""
    now = runtime.clock.now()
    async with runtime.database.transaction() as session:
        change = await contact_changes.pending(session, change_id, customer_id=caller.subject, now=now)
        if contact_changes.code_matches(change, body.code, cipher=runtime.cipher):
            row = await _customer(session, caller)
            value = contact_changes.new_value(change, runtime.cipher)
            if change.attribute == "email":
                await _ensure_email_free(session, runtime, value, row.id)
            await _apply(session, runtime, row, {change.attribute: value}, caller=caller, now=now)
            await contact_changes.mark_applied(session, change_id, now=now)
            return ContactChanged(changed=[change.attribute])
    async with runtime.database.transaction() as session:
        left = await contact_changes.record_wrong_code(session, change_id)
    raise contact_changes.wrong_code(left)


async def _ensure_email_free(session: AsyncSession, runtime: AuthRuntime, email: str, customer_id: str) -> None:
    index = accounts.email_index(runtime.cipher, email)
    taken = (await session.execute(select(models.customer.c.id).where(models.customer.c.email_index == index))).first()
    if taken is not None and taken.id != customer_id:
        raise Problem("This email address cannot be used.", code="email_unavailable", status=409)


async def _apply(
    session: AsyncSession,
    runtime: AuthRuntime,
    row: Any,
    changes: dict[str, str],
    *,
    caller: Caller,
    now: datetime,
) -> None:
    """Write the changes; each is told to the old and to the new contact (AUTH-ATTR-2), and reported to fraud."""
    before = accounts.contact_of(row, runtime.cipher)
    c = runtime.cipher
    old_values = {
        "email": before.email,
        "phone": before.phone,
        "address": c.open(row.address, context="customer.address"),
    }
    values: dict[str, Any] = {"updated_at": now}
    for name, value in changes.items():
        values[name] = c.seal(value, context=f"customer.{name}")
    if "email" in changes:
        values["email_index"] = accounts.email_index(c, changes["email"])
    if "phone" in changes:
        values["phone_index"] = accounts.phone_index(c, changes["phone"])
    if set(changes) & set(contact_changes.CONTACT_ATTRIBUTES):
        values["contact_changed_at"] = now
    await session.execute(models.customer.update().where(models.customer.c.id == row.id).values(**values))
    # A verified identity whose address changed is proven no more: money waits for a new proof (KYC-2).
    reverify = await kyc_status.require_reverification(
        session, runtime.outbox, row.id, list(changes), now=now, device_id=caller.device_id
    )
    for name, new in changes.items():
        old = old_values[name]
        # `name` is one of the attributes a customer may change (schemas), all three of which the notice knows.
        attribute = cast(ChangedAttribute, name)
        # With reverification_required the notice says withdrawals wait for a new proof.
        data = AttributeChangedData.model_construct(
            at=now, attribute=attribute, old=old, new=new, recipient_role="old", reverification_required=reverify
        )
        stamp = f"auth:attr:{row.id}:{name}:{int(now.timestamp() * 1000)}"
        # By e-mail: the old contact hears of it through what was registered before the change, the new one too.
        email_to: dict[RecipientRole, str | None] = {
            "old": before.email,
            "new": new if name == "email" else (changes.get("email") or before.email),
        }
        # By SMS too for an e-mail or phone change, to the phone registered before (and the new phone): whoever
        # holds the inbox cannot hide the change from the phone's owner.
        sms_to: dict[RecipientRole, str | None] = (
            {"old": before.phone, "new": new} if name == "phone" else {"old": before.phone}
        )
        for role, email in email_to.items():
            await send_notification(
                runtime.outbox, session, key=f"{stamp}:{role}", event_type=EventType.ATTRIBUTE_CHANGED,
                customer_id=row.id, language=row.language, email=email,
                data=data.model_copy(update={"recipient_role": role}),
            )  # fmt: skip
        for role, phone in sms_to.items() if name in contact_changes.CONTACT_ATTRIBUTES else ():
            await send_notification(
                runtime.outbox, session, key=f"{stamp}:{role}:sms", event_type=EventType.ATTRIBUTE_CHANGED,
                customer_id=row.id, language=row.language, phone=phone,
                data=data.model_copy(update={"recipient_role": role}),
            )  # fmt: skip
    await record_event(
        runtime.outbox,
        session,
        type="attribute_changed",
        occurred_at=now,
        customer_id=row.id,
        device_id=caller.device_id,
        data={"attributes": sorted(changes)},
    )


@router.put(
    "/v1/me/password",
    status_code=200,
    responses=problem_responses(
        (401, "invalid_credentials"),
        (401, "unauthorized"),
        (404, "not_found"),
        (422, "password_policy"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def change_password(
    body: PasswordChange, caller: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> PasswordChanged:
    """Same policy as at opening; every other session ends (RESP-2), and the customer is told."""
    row = await _customer(session, caller)
    if not (await runtime.hasher.verify(body.current_password, row.password_hash)).ok:
        raise LoginFailed("The current password is not correct.")
    contact = accounts.contact_of(row, runtime.cipher)
    accounts.enforce_password_policy(
        body.new_password,
        policy=runtime.policy,
        email=contact.email,
        phone=contact.phone,
        birth_date=contact.birth_date,
    )
    now = runtime.clock.now()
    await session.execute(
        models.customer.update()
        .where(models.customer.c.id == row.id)
        .values(
            password_hash=await runtime.hasher.hash(body.new_password),
            password_changed_at=now,
            password_invalidated_at=None,
            updated_at=now,
        )
    )
    s = models.auth_session
    others = await session.execute(
        s.update()
        .where(s.c.customer_id == row.id, s.c.id != caller.session_id, s.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="password_changed")
    )
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:pw:{row.id}:{int(now.timestamp() * 1000)}",
        event_type=EventType.PASSWORD_CHANGED,
        customer_id=row.id,
        language=row.language,
        email=contact.email,
        data=PasswordChangedData.model_construct(at=now),
    )
    await record_event(
        runtime.outbox,
        session,
        type="password_changed",
        occurred_at=now,
        customer_id=row.id,
        device_id=caller.device_id,
    )
    return PasswordChanged(changed=True, other_sessions_ended=int(others.rowcount))  # type: ignore[attr-defined]


@router.get(
    "/v1/me/devices",
    responses=problem_responses((401, "unauthorized"), (503, "service_unavailable"), (504, "upstream_timeout")),
)
async def my_devices(caller: CustomerDep, session: SessionDep) -> list[DeviceView]:
    """The devices in use; a removed one is not listed (it is forgotten)."""
    return [DeviceView(**device) for device in await devices.list_devices(session, caller.subject)]


@router.delete(
    "/v1/me/devices/{device_id}",
    # A raw answer: it carries the header of the sessions ended, which the gateway reads.
    responses={
        200: {"model": DeviceRemoved},
        **problem_responses(
            (401, "unauthorized"),
            (403, "step_up_method_refused"),
            (404, "device_not_found"),
            (404, "not_found"),
            (503, "service_unavailable"),
            (504, "upstream_timeout"),
        ),
    },
)
async def remove_device(device_id: str, caller: CustomerDep, session: SessionDep, runtime: RuntimeDep) -> JSONResponse:
    """Remove a device (stepped up for this very device, never by an e-mail code): its sessions end at once, this
    one too when it is the device in hand, and its next login is a new device's. The customer and fraud are told."""
    contact_changes.ensure_strong_step_up(caller.step_up, what="Removing a device")
    row = await _customer(session, caller)
    now = runtime.clock.now()
    removed = await devices.remove_device(session, row.id, device_id, now=now)
    contact = accounts.contact_of(row, runtime.cipher)
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:device-removed:{removed.id}",
        event_type=EventType.DEVICE_REMOVED,
        customer_id=row.id,
        language=row.language,
        email=contact.email,
        phone=contact.phone,
        data=DeviceRemovedData.model_construct(
            at=now,
            device=removed.user_agent[:200] or "unknown",
            last_seen_at=removed.last_seen_at,
            sessions_ended=len(removed.ended_sessions),
        ),
    )
    await record_event(
        runtime.outbox,
        session,
        type="device_removed",
        occurred_at=now,
        customer_id=row.id,
        device_id=caller.device_id,
        data={
            "removed_device_id": removed.id,
            "device_key": removed.device_key,  # fraud links customers sharing one phone, as at its first sight
            "sessions_ended": len(removed.ended_sessions),
            "current_device": removed.id == caller.device_id,
        },
    )
    body = DeviceRemoved(
        removed=removed.id,
        sessions_ended=len(removed.ended_sessions),
        current_session_ended=caller.session_id in removed.ended_sessions,
    )
    # The gateway refuses these sessions from this answer on (shared/contracts/sessions.py).
    headers = {SESSIONS_ENDED_HEADER: ",".join(removed.ended_sessions)} if removed.ended_sessions else None
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


@router.post(
    "/v1/auth/totp",
    status_code=201,
    responses=problem_responses(
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "not_found"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def enrol_totp(caller: CustomerDep, session: SessionDep, runtime: RuntimeDep) -> TotpEnrolment:
    """Start enrolling an authenticator app: the secret and its otpauth URI (shown once, as a QR code).

    With an app already confirmed this starts its replacement (a lost phone, after a recovery code): the confirmed
    app keeps working until the new one's code is confirmed, so an abandoned start locks nobody out."""
    _require_mfa_session(caller)
    row = await _customer(session, caller)
    t = models.totp_factor
    existing = (await session.execute(select(t).where(t.c.customer_id == row.id))).first()
    secret = totp.new_secret()
    sealed = runtime.cipher.seal(secret, context="totp_factor.secret")
    now = runtime.clock.now()
    if existing is None:
        await session.execute(t.insert().values(customer_id=row.id, secret=sealed, created_at=now))
    elif existing.confirmed_at is not None:
        await session.execute(t.update().where(t.c.customer_id == row.id).values(pending_secret=sealed))
    else:
        await session.execute(t.update().where(t.c.customer_id == row.id).values(secret=sealed, created_at=now))
    contact = accounts.contact_of(row, runtime.cipher)
    uri = totp.provisioning_uri(secret, account_name=contact.email, issuer=runtime.settings.company_name)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@router.post(
    "/v1/auth/totp/confirm",
    responses=problem_responses(
        (401, "challenge_failed"),
        (401, "unauthorized"),
        (403, "mfa_required"),
        (404, "not_found"),
        (409, "not_enrolling"),
        (503, "service_unavailable"),
        (504, "upstream_timeout"),
    ),
)
async def confirm_totp(
    body: TotpConfirm, caller: CustomerDep, session: SessionDep, runtime: RuntimeDep
) -> TotpEnrolled:
    """The first code of the app being enrolled: it becomes the customer's app (replacing a confirmed one), and the
    answer carries a new set of recovery codes, shown this once (every earlier code stops working)."""
    _require_mfa_session(caller)
    row = await _customer(session, caller)
    t = models.totp_factor
    pending = (await session.execute(select(t).where(t.c.customer_id == row.id).with_for_update())).first()
    replacing = pending is not None and pending.pending_secret is not None
    if pending is None or (pending.confirmed_at is not None and not replacing):
        raise Problem("No authenticator app is being enrolled.", code="not_enrolling", status=409)
    now = runtime.clock.now()
    sealed = pending.pending_secret if replacing else pending.secret
    secret = runtime.cipher.open(sealed, context="totp_factor.secret")
    step = totp.verify_totp(secret, body.code, at=now.timestamp(), last_used_step=None)
    if step is None:
        raise Problem("The code is not correct.", code="challenge_failed", status=401)
    await session.execute(
        t.update()
        .where(t.c.customer_id == row.id)
        .values(secret=sealed, pending_secret=None, confirmed_at=now, last_used_step=step, created_at=now)
    )
    codes = await recovery_codes.replace_set(session, runtime.cipher, row.id, now=now)
    contact = accounts.contact_of(row, runtime.cipher)
    await send_notification(
        runtime.outbox,
        session,
        key=f"auth:mfa:{row.id}:{int(now.timestamp() * 1000)}",
        event_type=EventType.MFA_CHANGED,
        customer_id=row.id,
        language=row.language,
        email=contact.email,  # a contact registered before the change
        phone=contact.phone,
        data=MfaChangedData.model_construct(at=now, change="enrolled", factor="totp"),
        once=True,  # two confirms in one millisecond: one notice says it (a second insert of the key would fail)
    )
    await record_event(
        runtime.outbox,
        session,
        type="factor_changed",
        occurred_at=now,
        customer_id=row.id,
        device_id=caller.device_id,
        data={"change": "enrolled", "factor": "totp", "replaced": replacing},
    )
    return TotpEnrolled(enrolled="totp", recovery_codes=codes)
