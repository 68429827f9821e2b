"""The sweeper: a background task that releases the holds of authorizations neither completed nor reversed in
time (`txn_hold_seconds`), so that credit an ATM reserved and forgot is not held for ever.

It runs in every replica; PostgreSQL's SKIP LOCKED keeps two from ending the same authorization, and an
authorization a partner is completing at that moment is skipped, not waited for (settlements.expire_due).
"""

from __future__ import annotations

from datetime import datetime

from services.txn import settlements
from shared.clock import Clock
from shared.database import Database
from shared.leases import Pump

ROUND = 100


async def expire_holds(database: Database, *, now: datetime, limit: int = ROUND) -> int:
    """One round: the due authorizations expired and their holds released, in one transaction; how many."""
    async with database.transaction() as session:
        return await settlements.expire_due(session, now=now, limit=limit)


class HoldSweeper:
    def __init__(self, *, database: Database, clock: Clock, poll_seconds: float) -> None:
        self._database = database
        self._clock = clock
        self._pump = Pump("txn-hold-sweeper", self.sweep, full=ROUND, poll_seconds=poll_seconds, stop_timeout=30)

    async def sweep(self) -> int:
        return await expire_holds(self._database, now=self._clock.now())

    def start(self) -> None:
        self._pump.start()

    async def stop(self) -> None:
        await self._pump.stop()
