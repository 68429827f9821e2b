"""Delivering queued messages at least once: claim with a lease, send through the channel, record the outcome.

A failed send is retried with exponential backoff (with jitter) until the retry budget is spent; then
the delivery is `dead` — kept with its whole history for staff, never deleted. A worker killed
mid-send leaves its lease to expire and the delivery is sent again: a customer may, rarely, get a
message twice, never zero times.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import models
from services.notify.channels import ChannelError, EmailSender, SmsSender
from services.notify.settings import NotifySettings
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database
from shared.ids import new_id
from shared.leases import Pump, claim_due
from shared.metrics import ServiceMetrics

log = logging.getLogger("sekisho.notify.delivery")

LocalWrite = Callable[[AsyncSession], Awaitable[None]]


class DeliveryWorker:
    def __init__(
        self,
        *,
        settings: NotifySettings,
        database: Database,
        cipher: FieldCipher,
        clock: Clock,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.database = database
        self.cipher = cipher
        self.clock = clock
        self.email = EmailSender(settings) if settings.smtp_host else None
        self.sms = SmsSender(settings) if settings.sms_url else None
        self._resting_until: dict[str, datetime] = {}
        self._rest_seconds: dict[str, float] = {}
        self.pump = Pump(
            "notify-delivery",
            self.deliver_due,
            full=settings.delivery_concurrency,
            poll_seconds=settings.delivery_poll_seconds,
            stop_timeout=settings.delivery_lease_seconds,
        )

    def start(self) -> None:
        self.pump.start()

    async def stop(self) -> None:
        await self.pump.stop()
        if self.sms is not None:
            await self.sms.aclose()

    async def deliver_due(self) -> int:
        """One round: lease as many due deliveries as may be sent at once, send them together, record them together.

        Recording a round in one transaction keeps the database out of the way of intake; a crash between
        sending and recording resends at most one round (at-least-once).
        """
        d = models.delivery
        now = self.clock.now()
        resting = [channel for channel, until in self._resting_until.items() if until > now]
        rows = await claim_due(
            self.database,
            d,
            due=d.c.status.in_(("queued", "failed")) & (d.c.next_attempt_at <= now) & d.c.channel.not_in(resting),
            now=now,
            lease_seconds=self.settings.delivery_lease_seconds,
            limit=self.settings.delivery_concurrency,
        )
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._send(row) for row in rows))
        self._update_breakers(rows, [error for error, _ in outcomes], now)
        async with self.database.transaction() as session:
            recorded = [
                (row.channel, await self._record(session, row, error, local))
                for row, (error, local) in zip(rows, outcomes, strict=True)
            ]
        if self.metrics is not None:  # counted once recorded: a round rolled back is sent again, and counted then
            for channel, outcome in recorded:
                self.metrics.deliveries.labels(channel, outcome).inc()
        return len(rows)

    def _update_breakers(self, rows: list[Any], errors: list[ChannelError | None], now: datetime) -> None:
        """A channel whose every send in a round failed for a passing reason (SMTP down) rests before trying again.

        While it rests, its queued messages are not tried at all, so an outage of hours neither burns their
        retry budget nor keeps the worker spinning; the rest doubles on each failed round, up to the maximum.
        """
        tried: dict[str, list[ChannelError | None]] = {}
        for row, error in zip(rows, errors, strict=True):
            tried.setdefault(row.channel, []).append(error)
        for channel, results in tried.items():
            if all(error is not None and not error.permanent for error in results):
                rest = min(
                    self.settings.delivery_retry_max_seconds,
                    self._rest_seconds.get(channel, self.settings.delivery_retry_base_seconds / 2) * 2,
                )
                self._rest_seconds[channel] = rest
                self._resting_until[channel] = now + timedelta(seconds=rest)
                log.warning("channel resting", extra={"channel": channel, "seconds": rest})
            else:
                self._rest_seconds.pop(channel, None)
                self._resting_until.pop(channel, None)

    async def _send(self, row: Any) -> tuple[ChannelError | None, LocalWrite | None]:
        recipient = self.cipher.open(row.recipient, context="delivery.recipient")
        subject = self.cipher.open(row.subject, context="delivery.subject")
        body = self.cipher.open(row.body, context="delivery.body")
        # Letters and the dev mailbox are rows written in the same transaction that marks the delivery sent,
        # so that a crash can never store one twice.
        if row.channel == "post":

            async def letter(session: AsyncSession) -> None:
                await self._store_letter(session, row, recipient, body)

            return None, letter
        if self.settings.dev_mailbox:

            async def mailbox(session: AsyncSession) -> None:
                await self._store_in_mailbox(session, row, recipient, subject, body)

            return None, mailbox
        try:
            if row.channel == "email":
                if self.email is None:
                    raise ChannelError("email is not configured (SEKISHO_SMTP_HOST)")
                await self.email.send(delivery_id=row.id, to=recipient, subject=subject, body=body)
            elif row.channel == "sms":
                if self.sms is None:
                    raise ChannelError("SMS is not configured (SEKISHO_SMS_URL)")
                await self.sms.send(delivery_id=row.id, to=recipient, body=body)
            else:
                raise ChannelError(f"unknown channel {row.channel}", permanent=True)
        except ChannelError as exc:
            return exc, None
        return None, None

    async def _record(
        self, session: AsyncSession, row: Any, error: ChannelError | None, local: LocalWrite | None
    ) -> str:
        """Records one send; answers its outcome (sent, failed: tried again later, dead: given up)."""
        now = self.clock.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if error is None:
            values.update(status="sent", sent_at=now, last_error=None)
        elif error.permanent or attempts >= self.settings.delivery_max_attempts:
            values.update(status="dead", last_error=str(error)[:500])
            log.error("delivery dead", extra={"delivery_id": row.id, "channel": row.channel, "error": str(error)[:200]})
        else:
            delay = min(
                self.settings.delivery_retry_max_seconds,
                self.settings.delivery_retry_base_seconds * 2 ** (attempts - 1),
            ) * random.uniform(0.5, 1.0)
            values.update(status="failed", next_attempt_at=now + timedelta(seconds=delay), last_error=str(error)[:500])
        if local is not None and error is None:
            await local(session)
        await session.execute(update(models.delivery).where(models.delivery.c.id == row.id).values(**values))
        await session.execute(
            models.delivery_attempt.insert().values(
                delivery_id=row.id, attempted_at=now, outcome=values["status"], error=values.get("last_error")
            )
        )
        return str(values["status"])

    async def _store_letter(self, session: AsyncSession, row: Any, address: str, body: str) -> None:
        """Post: the letter is stored as a document to be printed and mailed; handing it to print is delivery."""
        await session.execute(
            models.letter.insert().values(
                id=new_id("ltr"),
                delivery_id=row.id,
                address=self.cipher.seal(address, context="letter.address"),
                body=self.cipher.seal(body, context="letter.body"),
                created_at=self.clock.now(),
            )
        )

    async def _store_in_mailbox(self, session: AsyncSession, row: Any, recipient: str, subject: str, body: str) -> None:
        await session.execute(
            models.mailbox_message.insert().values(
                delivery_id=row.id,
                channel=row.channel,
                recipient=self.cipher.seal(recipient, context="mailbox_message.recipient"),
                subject=self.cipher.seal(subject, context="mailbox_message.subject"),
                body=self.cipher.seal(body, context="mailbox_message.body"),
                created_at=self.clock.now(),
            )
        )
