"""`sekisho staff create NAME --role R --json`: a staff identity with a password and a TOTP secret."""

from __future__ import annotations

from services.auth.hashing import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.staff import create_staff
from shared.clock import SystemClock
from shared.crypto import FieldCipher, parse_keys
from shared.database import Database, target_for


async def create(settings: AuthSettings, keys_spec: str, *, login_id: str, role: str) -> dict[str, str]:
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
            )
    finally:
        await database.dispose()
