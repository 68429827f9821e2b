"""Staff identities (API.md "Ops API"): password and TOTP always, short-lived tokens carrying the role.

`sekisho staff create NAME --role analyst|supervisor|admin --json` makes one with a generated password
and TOTP secret; `POST /v1/ops/auth/login` checks the password and answers with a TOTP challenge, never
with a token; the token comes only from verifying that challenge.
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import audit, challenges, models, sessions, totp
from services.auth.errors import LoginFailed
from services.auth.hashing import PasswordHasher
from shared.audit import Actor
from shared.crypto import FieldCipher
from shared.ids import new_id
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


async def staff_password_login(session: AsyncSession, *, login_id: str, password: str, runtime: AuthRuntime) -> str:
    """The id of a TOTP challenge once the password is right; LoginFailed alike for unknown id and wrong password."""
    row = (await session.execute(select(models.staff).where(models.staff.c.login_id == login_id))).first()
    if row is None or row.disabled:
        await runtime.hasher.verify_dummy(password)
        raise LoginFailed("The login id or the password is not correct.")
    if not (await runtime.hasher.verify(password, row.password_hash)).ok:
        raise LoginFailed("The login id or the password is not correct.")
    now = runtime.clock.now()
    pending = {"password_at": int(now.timestamp())}
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
