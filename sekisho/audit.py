"""`sekisho audit verify`: walk the audit trail's hash chain (SEC-6) and name the first entry that does not follow."""

from __future__ import annotations

from services.auth.audit_chain import Verdict, verify
from services.auth.settings import AuthSettings
from shared.database import Database, target_for


async def verify_trail(settings: AuthSettings) -> Verdict:
    database = Database(target_for(settings, "auth"), pool_size=1)
    try:
        async with database.transaction() as session:
            return await verify(session, settings.chain_key())
    finally:
        await database.dispose()
