"""The sweeper: a background task that releases the holds of authorizations neither completed nor reversed in
time (`txn_hold_seconds`), so that credit an ATM reserved and forgot is not held for ever, and forgets partners'
request_ids past their retention (`txn_request_id_retention_hours`), so that their table does not grow for ever.

It runs in every replica; PostgreSQL's SKIP LOCKED keeps two from ending the same authorization or deleting the same
key, and an authorization a partner is completing at that moment is skipped, not waited for
(settlements.expire_due).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.txn import idempotency, settlements
from shared.clock import Clock
from shared.database import Database
from shared.leases import Pump

ROUND = 100


async def expire_holds(database: Database, *, now: datetime, limit: int = ROUND) -> int:
    """One round: the due authorizations expired and their holds released, in one transaction; how many."""
    async with database.transaction() as session:
        return await settlements.expire_due(session, now=now, limit=limit)


async def forget_request_ids(database: Database, *, now: datetime, retention: timedelta, limit: int = ROUND) -> int:
    """One round: request_ids older than the retention forgotten, in one transaction; how many."""
    async with database.transaction() as session:
        return await idempotency.forget_old(session, created_before=now - retention, now=now, limit=limit)


class Sweeper:
    def __init__(self, *, database: Database, clock: Clock, poll_seconds: float, retention: timedelta) -> None:
        self._database = database
        self._clock = clock
        self._retention = retention
        self._pump = Pump("txn-sweeper", self.sweep, full=ROUND, poll_seconds=poll_seconds, stop_timeout=30)

    async def sweep(self) -> int:
        """Both chores; the larger count, so that the pump comes back at once while either has more to do."""
        expired = await expire_holds(self._database, now=self._clock.now())
        forgotten = await forget_request_ids(self._database, now=self._clock.now(), retention=self._retention)
        return max(expired, forgotten)

    def start(self) -> None:
        self._pump.start()

    async def stop(self) -> None:
        await self._pump.stop()
