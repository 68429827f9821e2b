"""Staff identities (API.md "Ops API"): a password and a second factor always (TOTP, or a passkey the member has
registered, staff_passkeys_api.py), short-lived tokens carrying the role.

`sekisho staff create NAME --role analyst|supervisor|admin --json` makes one with a generated password
and TOTP secret; `POST /v1/ops/auth/login` checks the password and answers with a TOTP challenge, never
with a token; the token comes only from verifying that challenge at the staff route
(`POST /v1/ops/auth/challenges/{id}/verify`, the gateway's `ops_login`, which no kill switch, customer IP rule
or fraud list can block). The session lasts a shift: `POST /v1/ops/auth/refresh` rotates its refresh token until
the idle timeout or the end of the shift (AuthSettings), after which the password and TOTP are needed again; a
disabled or locked staff member's sessions end.

Staff are locked out like customers, only sooner (lockout.py, the staff rule: a short lock after 3 failures, a
lock that only an admin lifts after 5; passwords and TOTP codes counted apart), and every failed password or
code is in the audit trail (SEC-6). An unknown or disabled login id is counted and answered alike.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import audit, challenges, lockout, login, models, passkeys, sessions, throttle, totp
from services.auth.errors import AccountLocked
from services.auth.hashing import PasswordHasher
from shared.audit import Actor
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.statements import statements_of
from shared.tokens import Factor

if TYPE_CHECKING:
    from services.auth.runtime import AuthRuntime

ROLES = ("analyst", "supervisor", "admin")
STAFF_PENDING_CONTEXT = "challenge.pending"


def generate_password() -> str:
    alphabet = string.ascii_letters + string.digits + "-_.!#%+"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(20))
        classes = [any(c.islower() for c in candidate), any(c.isupper() for c in candidate)]
        classes += [any(c.isdigit() for c in candidate), any(not c.isalnum() for c in candidate)]
        if all(classes):
            return candidate


async def create_staff(
    session: AsyncSession,
    *,
    login_id: str,
    role: str,
    hasher: PasswordHasher,
    cipher: FieldCipher,
    now: datetime,
    outsourced: bool = False,
) -> dict[str, str]:
    """A staff member with a generated password and TOTP secret. `outsourced`: an outsourced operator (DATA-4), who
    never sees full values, exports indicators or reads the audit trail, whatever the role."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    password = generate_password()
    secret = totp.new_secret()
    await session.execute(
        models.staff.insert().values(
            id=new_id("stf"),
            login_id=login_id,
            role=role,
            password_hash=await hasher.hash(password),
            totp_secret=cipher.seal(secret, context="staff.totp_secret"),
            disabled=False,
            created_at=now,
            outsourced=outsourced,
        )
    )
    return {"login_id": login_id, "password": password, "totp_secret": secret}


@dataclass(frozen=True)
class StaffChallenge:
    """The second step of a staff sign-in: its challenge, the methods that answer it (`totp`, and `passkey` for a
    staff member who has one), and the WebAuthn options for navigator.credentials.get() when a passkey may."""

    challenge_id: str
    methods: list[str]
    passkey: dict[str, Any] | None = None


def login_id_digest(cipher: FieldCipher, login_id: str) -> str:
    return cipher.blind_index(login_id.strip().lower(), context="staff.login_id")


async def staff_password_login(*, login_id: str, password: str, ip: str, runtime: AuthRuntime) -> StaffChallenge:
    """The second-factor challenge once the password is right (TOTP, or one of the member's passkeys); LoginFailed
    alike for unknown id and wrong password, AccountLocked alike for both once locked. Failures are recorded in their
    own transaction, so the refusal that follows cannot roll them back."""
    now = runtime.clock.now()
    settings = runtime.settings
    async with runtime.database.reading() as session:
        found = (await session.execute(select(models.staff).where(models.staff.c.login_id == login_id))).first()
        row = found if found is not None and not found.disabled else None
        subject = row.id if row is not None else lockout.unknown_subject(login_id_digest(runtime.cipher, login_id))
        await throttle.ensure_not_throttled(
            statements_of(session),
            ip,
            now=now,
            limit=settings.ip_failures_per_window,
            window_seconds=settings.ip_window_seconds,
        )
        guard = await lockout.load_guard(session, subject)
    try:
        lockout.ensure_unlocked(guard, known=True, now=now)
    except AccountLocked:
        await _audit_refusal(runtime, row, subject, ip=ip, now=now)
        raise
    if row is None:
        await runtime.hasher.verify_dummy(password)
        ok = False
    else:
        ok = (await runtime.hasher.verify(password, row.password_hash)).ok
    if row is None or not ok:
        login.raise_for(await record_failure(runtime, row, subject, ip=ip, stage="password", new=guard is None))
    pending = {"password_at": int(now.timestamp())}
    async with runtime.database.transaction() as session:
        if guard is not None and lockout.needs_reset(guard, known=True):
            await lockout.record_success(session, subject, known=True, now=now)
        own_passkeys = await passkeys.passkeys_of(session, row.id, passkeys.STAFF)
        methods = ["totp", "passkey"] if own_passkeys else ["totp"]
        challenge_id = await challenges.create_challenge(
            session,
            customer_id=row.id,
            purpose="staff_login",
            operation="ops_login",
            fields_digest="",
            summary={"operation": "ops_login"},
            methods=methods,
            pending=runtime.cipher.seal(json.dumps(pending), context=STAFF_PENDING_CONTEXT),
            now=now,
            ttl_seconds=runtime.settings.challenge_ttl_seconds,
        )
        if not own_passkeys:
            return StaffChallenge(challenge_id, methods)
        # The assertion must be made for this challenge's own WebAuthn challenge: one made for another sign-in
        # (a replay) does not verify here.
        ceremony = await passkeys.start_authentication(
            session,
            purpose="staff_login",
            allowed=own_passkeys,
            customer_id=row.id,
            challenge_id=challenge_id,
            now=now,
            config=runtime.webauthn(),
        )
        return StaffChallenge(challenge_id, methods, ceremony.options)


def _actor(row: Any, ip: str) -> Actor:
    if row is None:
        return Actor(staff_id="unknown", role="none", session_id="", ip=ip)
    return Actor(staff_id=row.id, role=str(row.role), session_id="", ip=ip, outsourced=bool(row.outsourced))


async def _audit_refusal(runtime: AuthRuntime, row: Any, subject: str, *, ip: str, now: datetime) -> None:
    async with runtime.database.transaction() as session:
        await audit.record(
            session,
            _actor(row, ip),
            action="staff.login_failed",
            target_type="staff",
            target_id=subject,
            now=now,
            key=runtime.audit_key,
            detail={"stage": "password", "locked": True, "refused": "locked"},
        )


async def record_failure(
    runtime: AuthRuntime, row: Any, subject: str, *, ip: str, stage: str, new: bool = False
) -> lockout.LockOutcome:
    """A wrong staff password (`stage` "password"), TOTP code ("totp") or passkey assertion ("passkey"): counted
    under the staff rule and audited, in a transaction of its own. `row`: the staff member, None for an unknown or
    disabled login id."""
    now = runtime.clock.now()
    settings = runtime.settings
    async with runtime.database.transaction() as session:
        await throttle.record_network_failure(session, ip, now=now, window_seconds=settings.ip_window_seconds)
        if row is None and new:
            await lockout.forget_unknown(session, now=now, keep=settings.unknown_login_max_tracked)
        outcome = await lockout.record_failure(
            session,
            subject,
            known=True,
            now=now,
            rule=runtime.staff_lock_rule,
            kind="password" if stage == "password" else "code",
            expires_at=None if row is not None else now + runtime.unknown_retention,
        )
        actor = _actor(row, ip)
        detail: dict[str, Any] = {"stage": stage, "locked": outcome.locked, "hard": outcome.hard}
        await audit.record(
            session,
            actor,
            action="staff.login_failed",
            target_type="staff",
            target_id=subject,
            now=now,
            detail=detail,
            key=runtime.audit_key,
        )
        if outcome.locked:
            # Wrong TOTP codes or passkey assertions mean someone holds the password: the member's sessions end
            # with the lock. Wrong passwords stop sign-ins only: a shift already signed in with password and TOTP goes
            # on, or anyone who knows a staff login id could sign that member out by typing at it.
            ended = 0
            if row is not None and stage != "password":
                ended = await sessions.revoke_all(session, row.id, now=now, reason="staff_locked")
            until = outcome.until.isoformat() if outcome.until else None
            await audit.record(
                session,
                actor,
                action="staff.locked",
                target_type="staff",
                target_id=subject,
                now=now,
                key=runtime.audit_key,
                detail={"stage": stage, "hard": outcome.hard, "until": until, "sessions_ended": ended},
            )
    return outcome


async def record_clone_suspected(
    runtime: AuthRuntime, session: AsyncSession, staff_id: str, passkey_id: str, counts: dict[str, int]
) -> None:
    """A staff passkey whose counter went backwards (two authenticators hold its key): refused, and in the audit
    trail for an admin to remove it; the refusal itself counts as a wrong answer (record_failure)."""
    row = (await session.execute(select(models.staff).where(models.staff.c.id == staff_id))).first()
    await audit.record(
        session,
        _actor(row, "unknown"),
        action="staff.passkey_clone_suspected",
        target_type="staff_passkey",
        target_id=passkey_id,
        now=runtime.clock.now(),
        key=runtime.audit_key,
        detail=dict(counts),
    )


async def verify_staff_totp(
    session: AsyncSession, staff_id: str, code: str, *, now: datetime, cipher: FieldCipher
) -> bool:
    s = models.staff
    row = (await session.execute(select(s).where(s.c.id == staff_id).with_for_update())).first()
    if row is None or row.disabled:
        return False
    secret = cipher.open(row.totp_secret, context="staff.totp_secret")
    step = totp.verify_totp(secret, code, at=now.timestamp(), last_used_step=row.last_used_step)
    if step is None:
        return False
    await session.execute(s.update().where(s.c.id == staff_id).values(last_used_step=step))
    return True


async def start_staff_session(
    session: AsyncSession, *, staff_id: str, factors: list[Factor], now: datetime, runtime: AuthRuntime, ip: str
) -> sessions.IssuedTokens:
    """A shift's session: a short access token carrying the role, and a refresh token that keeps it going until the
    idle timeout or the end of the shift (runtime.staff_token_policy)."""
    s = models.staff
    member = (await session.execute(select(s.c.role, s.c.outsourced).where(s.c.id == staff_id))).one()
    role, outsourced = str(member.role), bool(member.outsourced)
    issued = await sessions.start_session(
        session,
        customer_id=staff_id,
        device_id=None,
        factors=factors,
        now=now,
        signer=runtime.signer,
        policy=runtime.staff_token_policy,
        subject_type="staff",
        role=role,
        outsourced=outsourced,
    )
    actor = Actor(staff_id=staff_id, role=role, session_id=issued.session_id, ip=ip, outsourced=outsourced)
    await audit.record(
        session,
        actor,
        action="staff.login",
        target_type="staff",
        target_id=staff_id,
        now=now,
        key=runtime.audit_key,
    )
    return issued


async def role_now(session: AsyncSession, staff_id: str, now: datetime) -> sessions.Standing | None:
    """The staff member's role (and outsourced mark) now; None once disabled (their sessions then end). A lock stops
    new sign-ins; the sessions a lock of wrong TOTP codes must end are ended with it (record_failure)."""
    row = (await session.execute(select(models.staff).where(models.staff.c.id == staff_id))).first()
    if row is None or row.disabled:
        return None
    return sessions.Standing(role=str(row.role), outsourced=bool(row.outsourced))


async def refresh_staff_session(
    session: AsyncSession, refresh_token: str, *, now: datetime, runtime: AuthRuntime
) -> sessions.IssuedTokens | sessions.Ended:
    """Rotate a staff refresh token (a reused one ends the session, as for customers), within the idle timeout and
    the shift, for a staff member still allowed to sign in; the role is read again."""
    return await sessions.rotate(
        session,
        refresh_token,
        now=now,
        signer=runtime.signer,
        policy=runtime.staff_token_policy,
        subject_type="staff",
        role_of=role_now,
    )


async def staff_session_stands(session: AsyncSession, row: Any, *, now: datetime, runtime: AuthRuntime) -> bool:
    """Whether the staff session `row` (not revoked) still stands at the gateway's check, which is a request: it
    restarts the idle timeout. One past its idle timeout or shift, or of a staff member disabled or locked, is
    revoked here."""
    ended = runtime.staff_token_policy.ended_by_time(row, now)
    if ended is None and await role_now(session, row.customer_id, now) is None:
        ended = "subject_disabled"
    if ended is not None:
        await sessions.revoke(session, row.id, now=now, reason=ended)
        return False
    await sessions.touch(session, row.id, now=now)
    return True


async def disable_staff(session: AsyncSession, staff_id: str, *, now: datetime, actor: Actor, key: bytes) -> int:
    """A staff member may no longer sign in: every session of theirs ends (how many). Audited."""
    await session.execute(models.staff.update().where(models.staff.c.id == staff_id).values(disabled=True))
    ended = await sessions.revoke_all(session, staff_id, now=now, reason="staff_disabled")
    await audit.record(
        session, actor, action="staff.disable", target_type="staff", target_id=staff_id, now=now, key=key,
        detail={"sessions_ended": ended},
    )  # fmt: skip
    return ended
