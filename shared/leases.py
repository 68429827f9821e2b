"""Work queues in a table: claim due rows with a lease so that replicas never work on the same row at once.

A claimed row carries `lease_until`; a worker that dies mid-way simply lets its lease run out and the
row becomes due again (at-least-once). On PostgreSQL, `FOR UPDATE SKIP LOCKED` keeps replicas from
waiting on each other; on SQLite the single writer gives the same guarantee.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, select, update

from shared.database import Database

log = logging.getLogger("sekisho.leases")


async def claim_due(
    database: Database,
    table: Table,
    *,
    due: ColumnElement[bool],
    now: datetime,
    lease_seconds: float,
    limit: int,
) -> list[Any]:
    """Lease up to `limit` rows matching `due` (and not leased by someone else), the longest-waiting first.

    Ordered by `next_attempt_at`, not by age: otherwise a batch of old rows failing fast would be
    claimed again and again while younger rows starve.
    """
    t = table
    chosen = (
        select(t.c.id)
        .where(due, (t.c.lease_until.is_(None)) | (t.c.lease_until < now))
        .order_by(t.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer and renders no FOR UPDATE
    )
    # One statement: choosing and leasing in one round trip, so that an idle poll and a busy round cost the same.
    async with database.transaction() as session:
        rows = (
            await session.execute(
                update(t)
                .where(t.c.id.in_(chosen))
                .values(lease_until=now + timedelta(seconds=lease_seconds))
                .returning(*t.c)
            )
        ).all()
    return sorted(rows, key=lambda row: row.created_at)


class Pump:
    """Runs `round()` until stopped: again at once while its rounds come back full (`full` items handled), else
    after a wake-up or the poll interval. A round that was not full left nothing due behind it; anything that
    became due while it ran came with a wake-up, which ends the wait at once.

    Stopping lets the round in flight finish: cancelling mid-query can strand a database connection.
    """

    def __init__(
        self,
        name: str,
        round_: Callable[[], Awaitable[int]],
        *,
        full: int,
        poll_seconds: float,
        stop_timeout: float,
    ) -> None:
        self.name = name
        self._full = full
        self._round = round_
        self._poll = poll_seconds
        self._stop_timeout = stop_timeout
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=self._stop_timeout)
        except TimeoutError:
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the round, not after: a wake-up that arrives while the round runs must survive
            # to end the wait below, or a one-time code could sit until the next poll.
            self._wake.clear()
            try:
                handled = await self._round()
            except Exception:  # a failing round (database down) must not end the pump; the rows stay
                log.exception("%s round failed", self.name)
                handled = 0
            if handled >= self._full or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
