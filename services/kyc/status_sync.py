"""Tells auth a customer's KYC status, reliably: the update is a row written in the transaction of the decision,
and this relay puts it to auth (`PUT /internal/customers/{id}/kyc`, idempotent) until auth accepts it.

shared/outbox.py relays POSTs to a receiver's intake route; auth's KYC status is a PUT of the customer's state, so
kyc keeps its own small queue (same lease and pump as the outbox) instead of bending the outbox. It changes what
money the customer may move (KYC-2), so it is never dropped: any failure (auth down, auth without the route yet
mid-deploy: 404) waits and tries again, with exponential backoff up to `kyc_sync_retry_max_seconds`.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import models
from services.kyc.clients import AuthClient
from shared.clock import Clock
from shared.contracts.identity import KycMethod, KycState, KycStatusUpdate
from shared.database import Database, on_commit
from shared.ids import new_id
from shared.internal_client import ServiceTimeout, ServiceUnavailable
from shared.leases import Pump, claim_due
from shared.problems import Problem

log = logging.getLogger("sekisho.kyc.status_sync")
ROUND = 50


class StatusSync:
    def __init__(
        self, *, database: Database, auth: AuthClient, clock: Clock, poll_seconds: float, retry_max_seconds: float
    ) -> None:
        self.database = database
        self.auth = auth
        self.clock = clock
        self.retry_max_seconds = retry_max_seconds
        self._pump = Pump("kyc-status-sync", self.relay_due, full=ROUND, poll_seconds=poll_seconds, stop_timeout=30)

    def start(self) -> None:
        self._pump.start()

    async def stop(self) -> None:
        await self._pump.stop()

    async def queue(
        self,
        session: AsyncSession,
        *,
        customer_id: str,
        verification_id: str,
        status: KycState,
        method: KycMethod,
        verified_at: datetime | None,
        reason: str | None,
    ) -> None:
        """Queue the update with `session`: it leaves only if the decision commits, and then surely."""
        now = self.clock.now()
        await session.execute(
            models.kyc_status_sync.insert().values(
                id=new_id("ksy"),
                customer_id=customer_id,
                verification_id=verification_id,
                status=status,
                method=method,
                verified_at=verified_at,
                reason=reason,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
        on_commit(session, self._pump.wake)

    async def relay_due(self) -> int:
        t = models.kyc_status_sync
        now = self.clock.now()
        rows = await claim_due(
            self.database,
            t,
            due=t.c.synced_at.is_(None) & (t.c.next_attempt_at <= now),
            now=now,
            lease_seconds=30,
            limit=ROUND,
        )
        for row in rows:
            outcome = await self._send(row)
            async with self.database.transaction() as session:
                await session.execute(
                    update(t).where(t.c.id == row.id).values(attempts=t.c.attempts + 1, lease_until=None, **outcome)
                )
        return len(rows)

    async def _send(self, row: Any) -> dict[str, Any]:
        update_ = KycStatusUpdate(
            status=row.status,
            verification_id=row.verification_id,
            method=row.method,
            verified_at=row.verified_at,
            reason=row.reason,
        )
        try:
            await self.auth.record_kyc(row.customer_id, update_)
        except (Problem, ServiceUnavailable, ServiceTimeout, ValidationError) as exc:
            error = exc.detail if isinstance(exc, Problem) else "auth's answer is not a KycStatus"
            delay = min(self.retry_max_seconds, 0.5 * 2**row.attempts) * random.uniform(0.5, 1.0)
            log.warning("KYC status not accepted by auth", extra={"sync_id": row.id, "error": error})
            return {"next_attempt_at": self.clock.now() + timedelta(seconds=delay), "last_error": error[:500]}
        return {"synced_at": self.clock.now(), "last_error": None}
