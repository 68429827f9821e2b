"""Customer login (JFSA 2(2) login ①②③): password, then a possession factor where the policy asks for one.

A device never seen for this customer always needs the second factor: with the password alone, no
token is issued in any response. Failures are recorded in their own transaction, so the refusal
that follows cannot roll them back; the unknown login id and the wrong password get one answer
and cost one argon2id verification each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import bindparam, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import (
    accounts,
    challenges,
    decoys,
    device_blocks,
    devices,
    lockout,
    models,
    password_alerts,
    sessions,
    throttle,
)
from services.auth.errors import AccountLocked, LoginFailed, PasswordInvalidated
from services.auth.hashing import PasswordHasher
from services.auth.schemas import LoginRequest
from shared.clock import Clock
from shared.contracts.fraud_actions import device_digest_of
from shared.contracts.notifications import AccountLockedData, EventType, LockReason, LoginData
from shared.crypto import FieldCipher
from shared.database import Database
from shared.events import record_event
from shared.geo import place_of
from shared.notifications import send_notification
from shared.outbox import Outbox
from shared.statements import Prepared, Statements
from shared.tokens import Factor, TokenSigner

PENDING_CONTEXT = "challenge.pending"


@dataclass(frozen=True)
class LoginDeps:
    database: Database
    hasher: PasswordHasher
    cipher: FieldCipher
    clock: Clock
    outbox: Outbox
    lock_rule: lockout.LockRule
    ip_limit: int
    ip_window_seconds: int
    challenge_ttl_seconds: int
    mfa_on_known_devices: bool
    # Login ids that name no account are tracked like accounts (no enumeration by lockout), forgotten this long
    # after their last failure, and at most this many at once.
    unknown_retention: timedelta = timedelta(days=30)
    unknown_max_tracked: int = 100_000


@dataclass(frozen=True)
class LoginChallenge:
    challenge_id: str
    methods: list[str]


@dataclass(frozen=True)
class LoginDone:
    """One factor was enough on this trusted device: the session is started."""

    tokens: sessions.IssuedTokens


async def login(
    request: LoginRequest,
    *,
    ip: str,
    user_agent: str,
    deps: LoginDeps,
    signer: TokenSigner,
    token_policy: sessions.TokenPolicy,
    notify_every_login: bool,
) -> tuple[LoginChallenge | LoginDone, str]:
    """A challenge to answer, or a started session where one factor is enough; and the customer's language.

    Two steps on the way to a token: the checks before the password, read without a transaction (one
    statement for the account, its locks, this device, its factors and the network's failed logins; a phone number
    first finds whose it is, accounts.login_index), and one transaction after it.
    Both run prepared statements straight on the driver (shared/statements.py): every login runs them, and
    SQLAlchemy's own layers cost more CPU than the statements themselves.
    """
    now = deps.clock.now()
    limit, window = deps.ip_limit, deps.ip_window_seconds
    async with deps.database.direct_reading() as statements:
        index = await accounts.login_index(statements, deps.cipher, request.login_id)
        row = await _account_facts(statements, index, request, ip=ip, now=now, window_seconds=window)
    throttle.check(row, now=now, limit=limit, window_seconds=window)
    if row.id is None:
        await _unknown_login_id(request, row, index, ip=ip, now=now, deps=deps)
    # Only the customer's own devices are known: a stranger next to the trusted phone (the same /24, a
    # carrier's NAT) is still a stranger, and cannot lock the phone out.
    device = _device_of(row)
    known = device is not None and device.trusted_at is not None
    lockout.check_lock(row, known=known, now=now)
    verified = await deps.hasher.verify(request.password, row.password_hash)
    if not verified.ok:
        decoy = await decoys.find(deps.database, deps.cipher, row.email_index, request.password, now=now)
        if decoy is not None:
            return await _decoy_login(decoy, now=now, deps=deps), decoy.language
        await _record_failure(row, known=known, ip=ip, device_key=request.device_id, deps=deps)
    if row.device_blocked:  # SEC-3: told only to whoever knows the password, as every other answer past it
        raise device_blocks.refused()
    if row.password_invalidated_at is not None:  # INC-1: told, like the rest, only to whoever knows the password
        raise PasswordInvalidated(
            "This password can no longer be used to sign in, as a precaution after a security incident. Please set "
            "a new one with the password reset."
        )
    if request.device_integrity == "compromised":  # SEC-3: the app found its own device infected
        async with deps.database.transaction() as session:
            await device_blocks.refuse_reported_device(
                session, deps.outbox, deps.cipher, row, device_key=request.device_id, ip=ip, now=now
            )
        raise device_blocks.refused()
    pending = {"device_key": request.device_id, "ip": ip, "user_agent": user_agent, "password_at": int(now.timestamp())}
    async with deps.database.direct_transaction() as statements:
        if verified.new_hash is not None:
            await statements.execute(_UPGRADE_HASH, {"customer": row.id, "new_hash": verified.new_hash})
        if lockout.needs_reset(row, known=known):
            await lockout.record_success(statements, row.id, known=known, now=now)
        if (
            device is not None
            and device.trusted_at is not None
            and not deps.mfa_on_known_devices
            and await devices.touch_trusted(statements, device.id, ip=ip, user_agent=user_agent, now=now)
        ):
            tokens = await complete_login(
                statements,
                customer_row=row,
                pending=pending,
                factors=[Factor(cls="knowledge", method="pwd", at=int(now.timestamp()))],
                deps=deps,
                signer=signer,
                token_policy=token_policy,
                notify_every_login=notify_every_login,
                seen=devices.SeenDevice(device.id, new=False, trusted=True),
            )
            return LoginDone(tokens), row.language
        methods = login_methods(
            totp=row.totp_confirmed_at is not None, phone=bool(row.phone), recovery_codes=bool(row.has_recovery_codes)
        )
        challenge_id = await challenges.create_challenge(
            statements,
            customer_id=row.id,
            purpose="login",
            operation="login",
            fields_digest="",
            summary={"operation": "login"},
            methods=methods,
            pending=deps.cipher.seal(json.dumps(pending), context=PENDING_CONTEXT),
            now=now,
            ttl_seconds=deps.challenge_ttl_seconds,
        )
        if not known:
            await password_alerts.warn_of_password_on_new_device(
                statements, row, cipher=deps.cipher, outbox=deps.outbox, now=now, ip=ip, device_key=request.device_id
            )
    return LoginChallenge(challenge_id, methods), row.language


def login_methods(*, totp: bool, phone: bool, recovery_codes: bool = False) -> list[str]:
    """What may answer a login challenge. Not an e-mail code while the customer has a phone or an authenticator
    app: the inbox is reached with the same stolen credentials far too often, and a login it completed would count
    as two factors (a trusted device, an MFA session). Only a customer with neither (no phone: account opening
    requires one, so none today) is offered e-mail, the guideline's code to the registered address (JFSA 2(2)); the
    contact changes and money that matter refuse e-mail codes on their own (the gateway's policy).

    A recovery code (recovery_codes.py) is offered only while the customer has an unused one: it stands in for the
    lost app or phone, and is offered beside them, never instead of them."""
    methods = (["totp"] if totp else []) + (["sms"] if phone else [])
    return (methods or ["email"]) + (["recovery_code"] if recovery_codes else [])


def _account_facts_query() -> Any:
    c, d, g, t, r = models.customer, models.device, models.login_guard, models.totp_factor, models.recovery_code
    # Always one row: the account's columns are NULL where the login id names none, and the guard is then the
    # unknown id's own (lockout.unknown_subject), so that both are checked alike.
    one = select(literal(1).label("one")).subquery("one")
    return select(
        c,
        *lockout.guard_columns(),
        d.c.id.label("device_row_id"),
        d.c.trusted_at.label("device_trusted_at"),
        t.c.confirmed_at.label("totp_confirmed_at"),
        device_blocks.blocked_column(c),
        exists().where(r.c.customer_id == c.c.id, r.c.used_at.is_(None)).correlate(c).label("has_recovery_codes"),
        *throttle.failure_columns(),
    ).select_from(
        one.outerjoin(c, c.c.email_index == bindparam("email_index"))
        .outerjoin(g, g.c.customer_id == func.coalesce(c.c.id, bindparam("unknown_subject")))
        .outerjoin(d, (d.c.customer_id == c.c.id) & (d.c.device_key == bindparam("device_key")))
        .outerjoin(t, t.c.customer_id == c.c.id)
    )


# Built once (shared/statements.py): SQLAlchemy's cache key of a freshly built four-table join alone cost more
# than running it.
_ACCOUNT_FACTS = Prepared(_account_facts_query())
_UPGRADE_HASH = Prepared(
    models.customer.update()
    .where(models.customer.c.id == bindparam("customer"))
    .values(password_hash=bindparam("new_hash"))
)


async def _account_facts(
    statements: Statements, index: str, request: LoginRequest, *, ip: str, now: datetime, window_seconds: int
) -> Any:
    """In one statement, what a login decides on before the password: the account, its lockout guard
    (lockout.GUARD_COLUMNS, None where it never failed), this device (device_row_id, device_trusted_at),
    whether an authenticator app is confirmed (totp_confirmed_at), whether an unused recovery code is left
    (has_recovery_codes), and the failed logins from this network
    (throttle.failure_columns). For an unknown login id the account's columns are None and the guard is the
    unknown id's. `index`: accounts.login_index of the login id (an e-mail or the phone)."""
    parameters = {
        "email_index": index,
        "unknown_subject": lockout.unknown_subject(index),
        "device_key": request.device_id,
        "device_digest": device_digest_of(request.device_id),
        "block_now": now,
        **throttle.window_params(ip, now=now, window_seconds=window_seconds),
    }
    return await statements.one_or_none(_ACCOUNT_FACTS, parameters)


@dataclass(frozen=True)
class _Device:
    id: str
    trusted_at: Any


def _device_of(facts: Any) -> _Device | None:
    return None if facts.device_row_id is None else _Device(facts.device_row_id, facts.device_trusted_at)


async def has_confirmed_totp(session: AsyncSession, customer_id: str) -> bool:
    t = models.totp_factor
    confirmed = (await session.execute(select(t.c.confirmed_at).where(t.c.customer_id == customer_id))).first()
    return confirmed is not None and confirmed.confirmed_at is not None


async def _unknown_login_id(
    request: LoginRequest, facts: Any, digest: str, *, ip: str, now: datetime, deps: LoginDeps
) -> NoReturn:
    """A login id that names no account: the same checks, the same cost, the same answers as a stranger's wrong
    password on an existing one, its failures counted under its keyed digest (API.md: nothing tells them apart)."""
    lockout.check_lock(facts, known=False, now=now)
    await deps.hasher.verify_dummy(request.password)
    async with deps.database.transaction() as session:
        await throttle.record_network_failure(session, ip, now=now, window_seconds=deps.ip_window_seconds)
        if facts.stranger_failures is None:  # a new id to remember: make room first
            await lockout.forget_unknown(session, now=now, keep=deps.unknown_max_tracked)
        outcome = await lockout.record_failure(
            session,
            lockout.unknown_subject(digest),
            known=False,
            now=now,
            rule=deps.lock_rule,
            expires_at=now + deps.unknown_retention,
        )
        await record_event(
            deps.outbox,
            session,
            type="login_failed",
            occurred_at=now,
            ip=ip,
            outcome="unknown_login_id",
            # Keyed digest, not the address: fraud counts distinct ids per IP (credential stuffing).
            data={"login_id_digest": digest, "device_key": request.device_id},
        )
    raise_for(outcome)


async def _decoy_login(decoy: decoys.Decoy, *, now: datetime, deps: LoginDeps) -> LoginChallenge:
    """The password chosen in an application with a registered e-mail: answered as a new account's first login
    (a challenge for sms: a new account has a phone and no authenticator app) whose codes reach nobody (decoys.py
    says why)."""
    async with deps.database.reading() as session:
        guard = await lockout.load_guard(session, decoy.id)
    lockout.ensure_unlocked(guard, known=False, now=now)
    methods = login_methods(totp=False, phone=True)
    async with deps.database.direct_transaction() as statements:
        challenge_id = await challenges.create_challenge(
            statements,
            customer_id=decoy.id,
            purpose=decoys.PURPOSE,
            operation="login",
            fields_digest="",
            summary={"operation": "login"},
            methods=methods,
            pending=None,
            now=now,
            ttl_seconds=deps.challenge_ttl_seconds,
        )
    return LoginChallenge(challenge_id, methods)


def raise_for(outcome: lockout.LockOutcome) -> NoReturn:
    """The answer to a failed login: 423 where this failure locked, else 401 (one wording for every cause)."""
    if outcome.locked:
        raise AccountLocked(
            "The account is locked after repeated failures.",
            locked_until=outcome.until.isoformat() if outcome.until else None,
        )
    raise LoginFailed("The login id or the password is not correct.")


async def announce_lock(
    session: AsyncSession, row: Any, outcome: lockout.LockOutcome, *, ip: str, reason: LockReason, deps: LoginDeps
) -> None:
    """A failure locked the customer: fraud sees it, and the customer is told (whatever the failures were)."""
    now = deps.clock.now()
    await record_event(
        deps.outbox,
        session,
        type="account_locked",
        occurred_at=now,
        customer_id=row.id,
        ip=ip,
        data={"hard": outcome.hard, "until": outcome.until.isoformat() if outcome.until else None, "reason": reason},
    )
    contact = accounts.contact_of(row, deps.cipher)
    await send_notification(
        deps.outbox,
        session,
        key=f"auth:locked:{row.id}:{int(now.timestamp())}:{'hard' if outcome.hard else 'temp'}",
        event_type=EventType.ACCOUNT_LOCKED,
        customer_id=row.id,
        language=contact.language,
        email=contact.email,
        phone=contact.phone,
        data=AccountLockedData.model_construct(at=now, reason=reason, until=outcome.until),
        # Both sides of the lockout (own device, stranger) may lock in one second: one notice says it, and the second
        # lock's insert of the same key must not fail its login with a 500.
        once=True,
    )


async def _record_failure(row: Any, *, known: bool, ip: str, device_key: str, deps: LoginDeps) -> NoReturn:
    now = deps.clock.now()
    async with deps.database.transaction() as session:
        await throttle.record_network_failure(session, ip, now=now, window_seconds=deps.ip_window_seconds)
        outcome = await lockout.record_failure(session, row.id, known=known, now=now, rule=deps.lock_rule)
        await record_event(
            deps.outbox,
            session,
            type="login_failed",
            occurred_at=now,
            customer_id=row.id,
            ip=ip,
            outcome="wrong_password",
            data={"known_device": known, "device_key": device_key},
        )
        if outcome.locked:
            await announce_lock(session, row, outcome, ip=ip, reason="password_failures", deps=deps)
    raise_for(outcome)


async def record_code_failure(customer_id: str, *, known: bool, ip: str, deps: LoginDeps) -> lockout.LockOutcome:
    """A wrong one-time code for this customer (at login: a stranger's device; at a step-up: the signed-in
    customer's own): counted across every challenge, locking as wrong passwords do, in its own transaction."""
    now = deps.clock.now()
    async with deps.database.transaction() as session:
        outcome = await lockout.record_failure(
            session, customer_id, known=known, now=now, rule=deps.lock_rule, kind="code"
        )
        await record_event(
            deps.outbox,
            session,
            type="login_failed",
            occurred_at=now,
            customer_id=customer_id,
            ip=ip,
            outcome="wrong_code",
            data={"known_device": known},
        )
        if outcome.locked:
            row = (await session.execute(select(models.customer).where(models.customer.c.id == customer_id))).one()
            await announce_lock(session, row, outcome, ip=ip, reason="code_failures", deps=deps)
    return outcome


async def complete_login(
    session: AsyncSession | Statements,
    *,
    customer_row: Any,
    pending: dict[str, Any],
    factors: list[Factor],
    deps: LoginDeps,
    signer: TokenSigner,
    token_policy: sessions.TokenPolicy,
    notify_every_login: bool,
    seen: devices.SeenDevice | None = None,
) -> sessions.IssuedTokens:
    """Both factors are in (or one where the policy allows it): register the device (unless the caller already
    recorded it as `seen`), start the session, notify."""
    now = deps.clock.now()
    if seen is None:
        seen = await devices.see_device(
            session, customer_row.id, pending["device_key"], ip=pending["ip"], user_agent=pending["user_agent"], now=now
        )
    # A recovery code signs in once and trusts nothing: the next login on this device asks for a factor again (by
    # then the new app), and a thief's device with a stolen code never joins the customer's own side (lockout.py).
    if len({f.cls for f in factors}) >= 2 and all(f.method != "recovery_code" for f in factors):
        await devices.trust_device(session, seen.id, now=now)
    issued = await sessions.start_session(
        session,
        customer_id=customer_row.id,
        device_id=seen.id,
        factors=factors,
        now=now,
        signer=signer,
        policy=token_policy,
    )
    await record_event(
        deps.outbox,
        session,
        type="login_succeeded",
        occurred_at=now,
        customer_id=customer_row.id,
        device_id=seen.id,
        ip=pending["ip"],
        data={
            "factors": [f.method for f in factors],
            "user_agent": pending["user_agent"][:200],
            "device_key": pending["device_key"],  # the phone itself: fraud links customers sharing one
        },
    )
    if seen.new:
        await record_event(
            deps.outbox, session, type="device_first_seen", occurred_at=now, customer_id=customer_row.id,
            device_id=seen.id, ip=pending["ip"], data={"device_key": pending["device_key"]},
        )  # fmt: skip
    first_time = seen.new or not seen.trusted
    if first_time or notify_every_login:
        contact = accounts.contact_of(customer_row, deps.cipher)
        await send_notification(
            deps.outbox,
            session,
            key=f"auth:login:{issued.session_id}",
            event_type=EventType.LOGIN_NEW_DEVICE if first_time else EventType.LOGIN,
            customer_id=customer_row.id,
            language=contact.language,
            email=contact.email,
            data=LoginData.model_construct(
                at=now,
                device=pending["user_agent"][:200] or "unknown",
                ip=pending["ip"],
                place=place.describe() if (place := place_of(pending["ip"])) else None,
            ),
        )
    return issued
