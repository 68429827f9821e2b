"""The transactional outbox: what a service tells another (a notification, an event for fraud) is written
in the same database transaction as the change that causes it, then relayed at least once.

A producer calls `enqueue(session, …)` inside its unit of work; if the transaction rolls back, nothing
is sent, and if it commits, the relay delivers it even across crashes and outages of the receiver,
with exponential backoff and without limit: nothing a customer did is lost. The receiver deduplicates
by the idempotency key. The relay is woken the moment a transaction that enqueued an urgent message
commits (one-time codes live 60 s); a message that can wait (an event for fraud) wakes it a moment later,
so that the messages of many transactions leave together, and a receiver with a batch route
(shared/batches.py) takes them in one request. Otherwise the relay polls every second for retries
and for rows other replicas enqueued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.batches import MAX_BATCH, BatchOut
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database, UtcDateTime
from shared.ids import new_id
from shared.internal_client import InternalClient, ServiceTimeout, ServiceUnavailable
from shared.leases import Pump, claim_due
from shared.statements import Prepared, Statements, statements_of
from shared.tracing import continued, current_traceparent

log = logging.getLogger("sekisho.outbox")

PAYLOAD_CONTEXT = "outbox_message.payload"
# The columns a new message is given values for; the others start empty.
_ENQUEUED = (
    "id",
    "destination",
    "path",
    "idempotency_key",
    "payload",
    "created_at",
    "next_attempt_at",
    "attempts",
    "traceparent",
)
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
        # W3C traceparent of the request that queued it (shared/tracing.py): its delivery joins that trace.
        Column("traceparent", String(55), nullable=True),
        Index("ix_outbox_message_due", "delivered_at", "rejected_at", "next_attempt_at"),
    )


@dataclass(frozen=True)
class OutboxConfig:
    round_size: int = 100  # messages leased per round; those for one batch route leave in one request
    batch_delay_seconds: float = 0.5  # how long a message that can wait waits for company
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
        batch_paths: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.table = table
        self.database = database
        self.client = client
        self.cipher = cipher
        self.clock = clock
        self.config = config or OutboxConfig()
        # (destination, path of the single route) -> path of the receiver's batch route
        self.batch_paths = dict(batch_paths or {})
        self._wake_scheduled = False
        # Built once: every transaction that tells another service something runs one of them.
        self._insert = Prepared(table.insert(), columns=_ENQUEUED)
        self._inserts_once: dict[str, Prepared] = {}
        self._pump = Pump(
            "outbox-relay",
            self.relay_due,
            full=self.config.round_size,
            poll_seconds=self.config.poll_seconds,
            stop_timeout=self.config.lease_seconds,
        )

    async def enqueue(
        self,
        session: AsyncSession | Statements,
        *,
        destination: str,
        path: str,
        payload: dict[str, Any],
        key: str,
        urgent: bool = True,
        once: bool = False,
    ) -> None:
        """Queue `payload` to leave with this transaction. A key already queued is an error, unless `once`: then
        the first message with that key stands and this one is dropped (a notice at most once a day, say)."""
        now = self.clock.now()
        sealed = self.cipher.seal(json.dumps(payload, ensure_ascii=False, default=str), context=PAYLOAD_CONTEXT)
        values = {
            "id": new_id("obx"),
            "destination": destination,
            "path": path,
            "idempotency_key": key,
            "payload": sealed,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "traceparent": current_traceparent() if self.client.traced else None,
        }
        unit = statements_of(session)
        await unit.execute(self._insert_once(unit.dialect) if once else self._insert, values)
        unit.on_commit(self._pump.wake if urgent else self._wake_soon)

    def _insert_once(self, dialect: str) -> Prepared:
        """The insert that leaves the row already queued with that key alone (ON CONFLICT DO NOTHING)."""
        if dialect not in self._inserts_once:
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(self.table).on_conflict_do_nothing(index_elements=["idempotency_key"])
            self._inserts_once[dialect] = Prepared(statement, columns=_ENQUEUED)
        return self._inserts_once[dialect]

    def _wake_soon(self) -> None:
        """Wake the relay after `batch_delay_seconds`, once for every commit in that interval."""
        if self._wake_scheduled:
            return
        self._wake_scheduled = True
        asyncio.get_running_loop().call_later(self.config.batch_delay_seconds, self._scheduled_wake)

    def _scheduled_wake(self) -> None:
        self._wake_scheduled = False
        self._pump.wake()

    def start(self) -> None:
        self._pump.start()

    async def stop(self) -> None:
        await self._pump.stop()

    async def relay_due(self) -> int:
        """One round: lease the due messages, send them together (batched where the receiver can take a batch),
        record the outcomes together: one statement for every delivered message, one per other outcome."""
        t = self.table
        now = self.clock.now()
        rows = await claim_due(
            self.database,
            t,
            due=(t.c.delivered_at.is_(None)) & (t.c.rejected_at.is_(None)) & (t.c.next_attempt_at <= now),
            now=now,
            lease_seconds=self.config.lease_seconds,
            limit=self.config.round_size,
        )
        if not rows:
            return 0
        singles: list[Any] = []
        batches: dict[str, list[Any]] = {}
        for row in rows:
            batch_path = self.batch_paths.get((row.destination, row.path))
            if batch_path is None:
                singles.append(row)
            else:
                batches.setdefault(batch_path, []).append(row)
        sends = [self._send_one(row) for row in singles]
        for batch_path, batch in batches.items():
            sends += [self._send_batch(batch_path, batch[i : i + MAX_BATCH]) for i in range(0, len(batch), MAX_BATCH)]
        outcomes = [outcome for sent in await asyncio.gather(*sends) for outcome in sent]
        delivered = [row.id for row, outcome in outcomes if "delivered_at" in outcome]
        async with self.database.transaction() as session:
            if delivered:
                await session.execute(
                    update(t)
                    .where(t.c.id.in_(delivered))
                    .values(attempts=t.c.attempts + 1, lease_until=None, delivered_at=self.clock.now(), last_error=None)
                )
            for row, outcome in outcomes:
                if "delivered_at" not in outcome:
                    await session.execute(
                        update(t).where(t.c.id == row.id).values(attempts=t.c.attempts + 1, lease_until=None, **outcome)
                    )
        return len(rows)

    async def _send_one(self, row: Any) -> list[tuple[Any, dict[str, Any]]]:
        return [(row, await self._send(row))]

    async def _send(self, row: Any) -> dict[str, Any]:
        payload = json.loads(self.cipher.open(row.payload, context=PAYLOAD_CONTEXT))
        try:
            # The delivery's client span is a child of the span that queued the message, however long ago.
            with continued(row.traceparent):
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
        return self._outcome(row, response.status_code, response.text)

    async def _send_batch(self, batch_path: str, rows: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        """Send `rows` (one destination) in one request; each message's result decides its outcome alone."""
        messages = [
            {"key": row.idempotency_key, "body": json.loads(self.cipher.open(row.payload, context=PAYLOAD_CONTEXT))}
            for row in rows
        ]
        try:
            # Messages queued by many requests: the call starts a trace of its own, linked to each of theirs.
            response = await self.client.request(
                rows[0].destination,
                "POST",
                batch_path,
                json={"messages": messages},
                idempotent=True,
                trace_links=[row.traceparent for row in rows],
            )
        except (ServiceUnavailable, ServiceTimeout) as exc:
            return [(row, self._retry_later(row.attempts, exc.detail)) for row in rows]
        if response.status_code == 404 or response.status_code in REFUSED_FOR_GOOD:
            # A receiver without the batch route (mid-deploy), or one refusing the envelope: the single
            # route judges each message on its own, so one message can never hold back the others.
            return [(row, await self._send(row)) for row in rows]
        if not response.is_success:
            return [(row, self._retry_later(row.attempts, f"HTTP {response.status_code}")) for row in rows]
        try:
            results = {result.key: result for result in BatchOut.model_validate_json(response.content).results}
        except ValidationError:
            return [(row, self._retry_later(row.attempts, "unreadable batch answer")) for row in rows]
        outcomes = []
        for row in rows:
            result = results.get(row.idempotency_key)
            if result is None:
                outcomes.append((row, self._retry_later(row.attempts, "no result in the batch answer")))
            else:
                outcomes.append((row, self._outcome(row, result.status, result.detail or "")))
        return outcomes

    def _outcome(self, row: Any, status: int, text: str) -> dict[str, Any]:
        if 200 <= status < 300:
            return {"delivered_at": self.clock.now(), "last_error": None}
        if status not in REFUSED_FOR_GOOD:
            # 401/403 (identity, clocks), 404 (a receiver mid-deploy), 5xx: operational, so wait and retry.
            return self._retry_later(row.attempts, f"HTTP {status}")
        # The receiver will never accept this message as it is; keep it for staff, stop retrying.
        log.error(
            "outbox message refused", extra={"outbox_id": row.id, "status": status, "destination": row.destination}
        )
        return {"rejected_at": self.clock.now(), "last_error": f"HTTP {status}: {text[:400]}"}

    def _retry_later(self, attempts: int, error: str) -> dict[str, Any]:
        delay = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2**attempts)
        delay *= random.uniform(0.5, 1.0)  # jitter: a receiver coming back is not hit by every row at once
        return {"next_attempt_at": self.clock.now() + timedelta(seconds=delay), "last_error": error[:500]}
