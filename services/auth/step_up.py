"""Step-up grants: proof of a fresh factor for one operation with exactly these key fields, redeemable once within 60 s.

The gateway asks for a challenge naming the operation and a digest of its key fields (amount, ATM, bank
account, the changed attribute: dynamic linking, PSD2 RTS art. 5). Verifying the challenge yields a grant;
the gateway redeems it once, for that operation and that digest only (AUTH-EACH-1).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models
from shared.ids import new_token
from shared.problems import Problem
from shared.tokens import Factor

GRANT_TTL_SECONDS = 60


class GrantInvalid(Problem):
    status = 409
    code = "grant_invalid"


def grant_digest(grant: str) -> str:
    return hashlib.sha256(grant.encode()).hexdigest()


async def issue_grant(
    session: AsyncSession, *, challenge: Any, factor: Factor, now: datetime, ttl_seconds: int = GRANT_TTL_SECONDS
) -> str:
    grant = "sug_" + new_token(32)
    await session.execute(
        models.step_up_grant.insert().values(
            grant_hash=grant_digest(grant),
            challenge_id=challenge.id,
            customer_id=challenge.customer_id,
            operation=challenge.operation,
            fields_digest=challenge.fields_digest,
            factor=json.dumps(factor.to_claim()),
            expires_at=now + timedelta(seconds=min(ttl_seconds, GRANT_TTL_SECONDS)),
        )
    )
    return grant


async def redeem_grant(
    session: AsyncSession, *, grant: str, customer_id: str, operation: str, fields_digest: str, now: datetime
) -> Factor:
    """The factor the grant proves; GrantInvalid when it is unknown, used, expired, or for something else."""
    g = models.step_up_grant
    row = (await session.execute(select(g).where(g.c.grant_hash == grant_digest(grant)).with_for_update())).first()
    if row is None or row.redeemed_at is not None or row.expires_at <= now:
        raise GrantInvalid("The step-up grant is not valid (unknown, already used or expired).")
    if row.customer_id != customer_id or row.operation != operation or row.fields_digest != fields_digest:
        raise GrantInvalid("The step-up grant was given for another operation or other details.")
    updated = await session.execute(
        g.update().where(g.c.grant_hash == row.grant_hash, g.c.redeemed_at.is_(None)).values(redeemed_at=now)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        raise GrantInvalid("The step-up grant was used already.")
    return Factor.from_claim(json.loads(row.factor))
