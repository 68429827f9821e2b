"""Staff identities (API.md "Ops API"): password and TOTP always, short-lived tokens carrying the role.

`sekisho staff create NAME --role analyst|supervisor|admin --json` makes one with a generated password
and TOTP secret; `POST /v1/ops/auth/login` checks the password and answers with a TOTP challenge, never
with a token; the token comes only from verifying that challenge at the staff route
(`POST /v1/ops/auth/challenges/{id}/verify`, the gateway's `ops_login`, which no kill switch, customer IP rule
or fraud list can block).

Staff are locked out like customers, only sooner (lockout.py, the staff rule: a short lock after 3 failures, a
lock that only an admin lifts after 5; passwords and TOTP codes counted apart), and every failed password or
code is in the audit trail (SEC-6). An unknown or disabled login id is counted and answered alike.
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import audit, challenges, lockout, login, models, sessions, throttle, totp
from services.auth.errors import AccountLocked
from services.auth.hashing import PasswordHasher
from shared.audit import Actor
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.statements import statements_of
from shared.tokens import AccessClaims, Factor

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
    session: AsyncSession, *, login_id: str, role: str, hasher: PasswordHasher, cipher: FieldCipher, now: datetime
) -> dict[str, str]:
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
        )
    )
    return {"login_id": login_id, "password": password, "totp_secret": secret}


def login_id_digest(cipher: FieldCipher, login_id: str) -> str:
    return cipher.blind_index(login_id.strip().lower(), context="staff.login_id")


async def staff_password_login(*, login_id: str, password: str, ip: str, runtime: AuthRuntime) -> str:
    """The id of a TOTP challenge once the password is right; LoginFailed alike for unknown id and wrong password,
    AccountLocked alike for both once locked. Failures are recorded in their own transaction, so the refusal that
    follows cannot roll them back."""
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
        return await challenges.create_challenge(
            session,
            customer_id=row.id,
            purpose="staff_login",
            operation="ops_login",
            fields_digest="",
            summary={"operation": "ops_login"},
            methods=["totp"],
            pending=runtime.cipher.seal(json.dumps(pending), context=STAFF_PENDING_CONTEXT),
            now=now,
            ttl_seconds=runtime.settings.challenge_ttl_seconds,
        )


def _actor(row: Any, ip: str) -> Actor:
    if row is None:
        return Actor(staff_id="unknown", role="none", session_id="", ip=ip)
    return Actor(staff_id=row.id, role=str(row.role), session_id="", ip=ip)


async def _audit_refusal(runtime: AuthRuntime, row: Any, subject: str, *, ip: str, now: datetime) -> None:
    async with runtime.database.transaction() as session:
        await audit.record(
            session,
            _actor(row, ip),
            action="staff.login_failed",
            target_type="staff",
            target_id=subject,
            now=now,
            detail={"stage": "password", "locked": True, "refused": "locked"},
        )


async def record_failure(
    runtime: AuthRuntime, row: Any, subject: str, *, ip: str, stage: str, new: bool = False
) -> lockout.LockOutcome:
    """A wrong staff password (`stage` "password") or TOTP code ("totp"): counted under the staff rule and
    audited, in a transaction of its own. `row`: the staff member, None for an unknown or disabled login id."""
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
            session, actor, action="staff.login_failed", target_type="staff", target_id=subject, now=now, detail=detail
        )
        if outcome.locked:
            until = outcome.until.isoformat() if outcome.until else None
            await audit.record(
                session,
                actor,
                action="staff.locked",
                target_type="staff",
                target_id=subject,
                now=now,
                detail={"stage": stage, "hard": outcome.hard, "until": until},
            )
    return outcome


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
    role: Any = (await session.execute(select(models.staff.c.role).where(models.staff.c.id == staff_id))).scalar()
    session_id = new_id("ses")
    await session.execute(
        models.auth_session.insert().values(
            id=session_id,
            customer_id=staff_id,
            subject_type="staff",
            device_id=None,
            factors=json.dumps([f.to_claim() for f in factors]),
            created_at=now,
        )
    )
    ttl = min(runtime.settings.access_token_ttl_seconds, 600)
    token = runtime.signer.sign(
        AccessClaims.for_subject(
            subject=staff_id,
            session_id=session_id,
            device_id=None,
            factors=factors,
            issued_at=int(now.timestamp()),
            ttl_seconds=ttl,
            subject_type="staff",
            role=str(role),
        )
    )
    actor = Actor(staff_id=staff_id, role=str(role), session_id=session_id, ip=ip)
    await audit.record(session, actor, action="staff.login", target_type="staff", target_id=staff_id, now=now)
    # Staff get no refresh token: a shift ends, and a stolen staff token dies within minutes.
    return sessions.IssuedTokens(token, None, session_id, ttl, "aal2")
