"""The transactional outbox: what a service tells another (a notification, an event for fraud) is written
in the same database transaction as the change that causes it, then relayed at least once.

A producer calls `enqueue(session, …)` inside its unit of work; if the transaction rolls back, nothing
is sent, and if it commits, the relay delivers it even across crashes and outages of the receiver,
with exponential backoff and without limit: nothing a customer did is lost. The receiver deduplicates
by the idempotency key. The relay is woken the moment a transaction that enqueued commits (one-time
codes live 60 s), and otherwise polls every second for retries and for rows other replicas enqueued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database, UtcDateTime, on_commit
from shared.ids import new_id
from shared.internal_client import InternalClient, ServiceTimeout, ServiceUnavailable
from shared.leases import Pump, claim_due

log = logging.getLogger("sekisho.outbox")

PAYLOAD_CONTEXT = "outbox_message.payload"
# Answers that mean "this message itself is wrong": retrying the same bytes can never succeed.
REFUSED_FOR_GOOD = frozenset({400, 409, 413, 422})


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox_message",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("destination", String(16), nullable=False),
        Column("path", String(200), nullable=False),
        Column("idempotency_key", String(200), nullable=False, unique=True),
        Column("payload", Text, nullable=False),  # sealed JSON: it may carry contact data (DATA-2)
        Column("created_at", UtcDateTime, nullable=False),
        Column("next_attempt_at", UtcDateTime, nullable=False),
        Column("lease_until", UtcDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("delivered_at", UtcDateTime, nullable=True),
        Column(
            "rejected_at", UtcDateTime, nullable=True
        ),  # the receiver refused it for good: kept, visible, not retried
        Column("last_error", String(500), nullable=True),
        Index("ix_outbox_message_due", "delivered_at", "rejected_at", "next_attempt_at"),
    )


@dataclass(frozen=True)
class OutboxConfig:
    concurrency: int = 20
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 300.0


class Outbox:
    """Enqueue side and relay of one service's outbox table."""

    def __init__(
        self,
        *,
        table: Table,
        database: Database,
        client: InternalClient,
        cipher: FieldCipher,
        clock: Clock,
        config: OutboxConfig | None = None,
    ) -> None:
        self.table = table
        self.database = database
        self.client = client
        self.cipher = cipher
        self.clock = clock
        self.config = config or OutboxConfig()
        self._pump = Pump(
            "outbox-relay",
            self.relay_due,
            poll_seconds=self.config.poll_seconds,
            stop_timeout=self.config.lease_seconds,
        )

    async def enqueue(
        self, session: AsyncSession, *, destination: str, path: str, payload: dict[str, Any], key: str
    ) -> None:
        now = self.clock.now()
        sealed = self.cipher.seal(json.dumps(payload, ensure_ascii=False, default=str), context=PAYLOAD_CONTEXT)
        await session.execute(
            self.table.insert().values(
                id=new_id("obx"),
                destination=destination,
                path=path,
                idempotency_key=key,
                payload=sealed,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )
        on_commit(session, self._pump.wake)

    def start(self) -> None:
        self._pump.start()

    async def stop(self) -> None:
        await self._pump.stop()

    async def relay_due(self) -> int:
        """One round: lease up to `concurrency` due messages, send them together, record the outcomes together."""
        t = self.table
        now = self.clock.now()
        rows = await claim_due(
            self.database,
            t,
            due=(t.c.delivered_at.is_(None)) & (t.c.rejected_at.is_(None)) & (t.c.next_attempt_at <= now),
            now=now,
            lease_seconds=self.config.lease_seconds,
            limit=self.config.concurrency,
        )
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._send(row) for row in rows))
        async with self.database.transaction() as session:
            for row, outcome in zip(rows, outcomes, strict=True):
                await session.execute(
                    update(t).where(t.c.id == row.id).values(attempts=row.attempts + 1, lease_until=None, **outcome)
                )
        return len(rows)

    async def _send(self, row: Any) -> dict[str, Any]:
        payload = json.loads(self.cipher.open(row.payload, context=PAYLOAD_CONTEXT))
        try:
            response = await self.client.request(
                row.destination,
                "POST",
                row.path,
                json=payload,
                headers={"Idempotency-Key": row.idempotency_key},
                idempotent=True,
            )
        except (ServiceUnavailable, ServiceTimeout) as exc:
            return self._retry_later(row.attempts, exc.detail)
        if response.is_success:
            return {"delivered_at": self.clock.now(), "last_error": None}
        if response.status_code not in REFUSED_FOR_GOOD:
            # 401/403 (identity, clocks), 404 (a receiver mid-deploy), 5xx: operational, so wait and retry.
            return self._retry_later(row.attempts, f"HTTP {response.status_code}")
        # The receiver will never accept this message as it is; keep it for staff, stop retrying.
        log.error(
            "outbox message refused",
            extra={"outbox_id": row.id, "status": response.status_code, "destination": row.destination},
        )
        return {"rejected_at": self.clock.now(), "last_error": f"HTTP {response.status_code}: {response.text[:400]}"}

    def _retry_later(self, attempts: int, error: str) -> dict[str, Any]:
        delay = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2**attempts)
        delay *= random.uniform(0.5, 1.0)  # jitter: a receiver coming back is not hit by every row at once
        return {"next_attempt_at": self.clock.now() + timedelta(seconds=delay), "last_error": error[:500]}
