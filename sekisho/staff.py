"""`sekisho staff create NAME --role R [--outsourced] --json`: a staff identity with a password and a TOTP secret."""

from __future__ import annotations

from services.auth.hashing import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.staff import create_staff
from shared.clock import SystemClock
from shared.crypto import FieldCipher, parse_keys
from shared.database import Database, target_for


async def create(
    settings: AuthSettings, keys_spec: str, *, login_id: str, role: str, outsourced: bool = False
) -> dict[str, str]:
    database = Database(target_for(settings, "auth"), pool_size=1)
    try:
        async with database.transaction() as session:
            return await create_staff(
                session,
                login_id=login_id,
                role=role,
                hasher=PasswordHasher(),
                cipher=FieldCipher(parse_keys(keys_spec)),
                now=SystemClock().now(),
                outsourced=outsourced,
            )
    finally:
        await database.dispose()


async def unlock(settings: AuthSettings, *, login_id: str) -> bool:
    """`sekisho staff unlock NAME`: lift a staff member's lock from the server itself, for when no admin can sign in
    to do it (every admin locked out by guesses at their login ids). False: no such staff member. Audited."""
    from sqlalchemy import select

    from services.auth import audit, lockout, models
    from shared.audit import Actor

    database = Database(target_for(settings, "auth"), pool_size=1)
    try:
        async with database.transaction() as session:
            s = models.staff
            staff_id = (await session.execute(select(s.c.id).where(s.c.login_id == login_id))).scalar_one_or_none()
            if staff_id is None:
                return False
            now = SystemClock().now()
            await lockout.unlock(session, staff_id, now=now)
            operator = Actor(staff_id="operator", role="operator", session_id="", ip="local")
            await audit.record(
                session, operator, action="staff.unlock", target_type="staff", target_id=staff_id, now=now,
                key=settings.chain_key(), detail={"by": "sekisho staff unlock"},
            )  # fmt: skip
            return True
    finally:
        await database.dispose()


async def disable(settings: AuthSettings, *, login_id: str) -> int | None:
    """`sekisho staff disable NAME`: the staff member may no longer sign in, and every session of theirs ends (how
    many). None: no such staff member. Audited."""
    from sqlalchemy import select

    from services.auth import models
    from services.auth.staff import disable_staff
    from shared.audit import Actor

    database = Database(target_for(settings, "auth"), pool_size=1)
    try:
        async with database.transaction() as session:
            s = models.staff
            staff_id = (await session.execute(select(s.c.id).where(s.c.login_id == login_id))).scalar_one_or_none()
            if staff_id is None:
                return None
            operator = Actor(staff_id="operator", role="operator", session_id="", ip="local")
            return await disable_staff(
                session, staff_id, now=SystemClock().now(), actor=operator, key=settings.chain_key()
            )
    finally:
        await database.dispose()
