"""Scoring an operation before it happens (POST /score): features, the live rule set, the answer, recorded.

What the scorer needs besides the events — the live rule set, the deny lists, the snoozed rules — is held
in memory and read again from the database at most once a second, so that a change made through any
replica is in force everywhere within a second or two, and a score costs two reads and one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import features, lists, models
from services.fraud.features import Features, ScoreContext
from services.fraud.rules import Assessment, Lists, RuleSetBody, evaluate
from shared.clock import Clock
from shared.database import Database
from shared.ids import new_id
from shared.statements import Prepared, Statements, statements_of

REFRESH_SECONDS = 1.0
WRITE_ATTEMPTS = 4  # a score record is written again after 0.2, 0.4 and 0.8 s when the database is away
log = logging.getLogger("sekisho.fraud.scoring")
# Built once (shared/statements.py): one for every score, on the driver where it runs after the answer is sent.
_INSERT_SCORE = Prepared(
    models.score.insert(),
    columns=(
        "id",
        "at",
        "operation",
        "customer_id",
        "device_id",
        "ip",
        "amount",
        "score",
        "action",
        "rule_set_version",
        "reasons",
        "context",
    ),
)
T = TypeVar("T")


def default_rule_set() -> RuleSetBody:
    """The rule set shipped with the service (default_rules.json): version 1 of a new database (migration 0005)."""
    text = resources.files("services.fraud").joinpath("default_rules.json").read_text(encoding="utf-8")
    return RuleSetBody.model_validate_json(text)


class Refreshed(Generic[T]):
    """A value read from the database and kept fresh by the scorer's refresher, off the request path.

    A request reads it from the database itself only the first time, after `forget()`, or when the refresher
    has fallen behind (twice its interval): a score never waits for a reload in the ordinary course.
    """

    def __init__(self, load: Callable[[AsyncSession, datetime], Awaitable[T]]) -> None:
        self._load = load
        self._value: T | None = None
        self._loaded_at: float | None = None

    def stale(self) -> bool:
        """Never read, forgotten, or the refresher has fallen behind."""
        return (
            self._value is None or self._loaded_at is None or time.monotonic() - self._loaded_at >= 2 * REFRESH_SECONDS
        )

    @property
    def value(self) -> T:
        assert self._value is not None, "read before its first refresh"
        return self._value

    async def get(self, session: AsyncSession, now: datetime) -> T:
        """The value; `now` is the service clock's time, against which expiries are judged when loading."""
        if self.stale():
            await self.refresh(session, now)
        return self.value

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        self._value = await self._load(session, now)
        self._loaded_at = time.monotonic()

    def forget(self) -> None:
        """Read again at the next use (this replica just changed it)."""
        self._loaded_at = None


@dataclass(frozen=True)
class LiveRuleSet:
    version: int
    body: RuleSetBody


class _LiveLoader:
    """Loads the live rule set; parses its body again only when the live version changed (parsing and validating
    the body each second was the refresher's largest cost)."""

    def __init__(self) -> None:
        self._current: LiveRuleSet | None = None

    async def __call__(self, session: AsyncSession, _: datetime) -> LiveRuleSet:
        r = models.rule_set
        version = (await session.execute(_LIVE_VERSION)).scalar()
        if version is None:  # the migrations ship version 1: only a hand-edited database lacks one
            raise LookupError("no live rule set")
        if self._current is None or self._current.version != version:
            body = (await session.execute(select(r.c.body).where(r.c.version == version))).scalar_one()
            self._current = LiveRuleSet(version, RuleSetBody.model_validate_json(body))
        return self._current


_LIVE_VERSION = select(models.rule_set.c.version).where(models.rule_set.c.status == "live")


# The rules snoozed per (entity type, value): a supervisor's suppression for a customer, device or IP.
Snoozed = dict[tuple[str, str], frozenset[str]]


async def _load_suppressions(session: AsyncSession, now: datetime) -> Snoozed:
    """(entity type, value) -> rule ids snoozed for it now."""
    s = models.suppression
    rows = (
        await session.execute(
            select(s.c.entity_type, s.c.entity_value, s.c.rule_id).where(s.c.lifted_at.is_(None), s.c.until > now)
        )
    ).all()
    found: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        found.setdefault((row.entity_type, row.entity_value), set()).add(row.rule_id)
    return {key: frozenset(ids) for key, ids in found.items()}


class Scorer:
    """One per fraud process: the cached rule set, lists and suppressions, and the scoring itself."""

    def __init__(self) -> None:
        self.rule_set: Refreshed[LiveRuleSet] = Refreshed(_LiveLoader())
        self.lists: Refreshed[Lists] = Refreshed(lists.load_deny)
        self.suppressions: Refreshed[Snoozed] = Refreshed(_load_suppressions)
        self._refresher: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def start(self, database: Database, clock: Clock) -> None:
        """Refresh the rule set, lists and snoozes every REFRESH_SECONDS: a change made through any replica is
        in force everywhere within a second or two."""
        self._refresher = asyncio.create_task(self._refresh_forever(database, clock), name="fraud-scorer-refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._writes:  # a graceful stop keeps every answer already given
            await asyncio.gather(*self._writes, return_exceptions=True)

    def record_soon(self, database: Database, record: ScoreRecord, request: dict[str, Any]) -> None:
        """Record an answer that sets off no action just after it is sent: the gateway does not wait for the
        write. Only a crash of the process in that moment loses the record (answers that open a case or act
        are recorded before they are sent, in the transaction of their actions)."""
        task = asyncio.get_running_loop().create_task(self._write(database, record, request))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, database: Database, record: ScoreRecord, request: dict[str, Any]) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                async with database.direct_statement() as statements:
                    await self.record(statements, record, request)
                return
            except Exception:  # the database may be away for a moment
                if attempt == WRITE_ATTEMPTS - 1:
                    log.exception("the score %s could not be recorded", record.id)
                    return
                await asyncio.sleep(0.2 * 2**attempt)

    async def _refresh_forever(self, database: Database, clock: Clock) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                async with database.reading() as session:
                    for cached in (self.rule_set, self.lists, self.suppressions):
                        await cached.refresh(session, clock.now())
            except Exception:  # the database may be away for a moment: keep the last values, try again
                log.exception("refreshing the scorer's rules and lists failed")

    async def in_force(self, source: Database | AsyncSession, now: datetime) -> tuple[LiveRuleSet, Lists, Snoozed]:
        """The live rule set, the deny lists and the snoozed rules, as held in memory. Only what is stale (see
        `Refreshed`) is read, from `source`: a database (a session is opened only then) or the caller's session."""
        cached = (self.rule_set, self.lists, self.suppressions)
        if isinstance(source, AsyncSession):
            for each in cached:
                await each.get(source, now)
        elif any(each.stale() for each in cached):
            async with source.reading() as session:
                for each in cached:
                    await each.get(session, now)
        return self.rule_set.value, self.lists.value, self.suppressions.value

    async def assess(
        self,
        source: Database | AsyncSession,
        context: ScoreContext,
        *,
        reads: AsyncSession | Statements,
        beside: AsyncSession | Statements | None = None,
        body: RuleSetBody | None = None,
    ) -> tuple[Features, Assessment, int]:
        """Features and assessment of `context` under the live rule set (or `body`, for a backtest's draft). The
        events are read through `reads`, and with `beside` (on another connection) the customer's events at the
        same time (features.compute); the rules, lists and snoozes come from memory (`in_force`, from `source`)."""
        live, deny_lists, snoozed = await self.in_force(source, context.at)
        found = await features.compute(reads, context, beside=beside)
        suppressed = frozenset().union(
            *(
                snoozed.get((kind, value), frozenset())
                for kind, value in (
                    ("customer", context.customer_id),
                    ("device", found.device_key),
                    # staff snooze a device by the digest they see (device_digests.py)
                    ("device", found.device_digest),
                    ("ip", context.ip),
                )
                if value
            )
        )
        assessment = evaluate(body or live.body, found, lists=deny_lists, suppressed=suppressed)
        return found, assessment, live.version

    async def score(self, session: AsyncSession, context: ScoreContext, request: dict[str, Any]) -> ScoreRecord:
        """Assess and record the answer with the version of the rules that gave it, in one session."""
        found, assessment, version = await self.assess(session, context, reads=session)
        record = ScoreRecord(new_id("scr"), context, found, assessment, version)
        await self.record(session, record, request)
        return record

    async def record(self, session: AsyncSession | Statements, record: ScoreRecord, request: dict[str, Any]) -> None:
        """Keep what was answered, to whom, under which rules (one INSERT)."""
        context, assessment = record.context, record.assessment
        await statements_of(session).execute(
            _INSERT_SCORE,
            {
                "id": record.id,
                "at": context.at,
                "operation": context.operation,
                "customer_id": context.customer_id,
                "device_id": context.device_id,
                "ip": context.ip,
                "amount": context.amount,
                "score": assessment.score,
                "action": assessment.action,
                "rule_set_version": record.rule_set_version,
                "reasons": json.dumps(record.reasons(), ensure_ascii=False),
                "context": json.dumps(request, ensure_ascii=False, default=str),
            },
        )


@dataclass(frozen=True)
class ScoreRecord:
    id: str
    context: ScoreContext
    features: Features
    assessment: Assessment
    rule_set_version: int

    def reasons(self) -> list[dict[str, Any]]:
        return [{"rule": h.rule, "weight": h.weight, "reason": h.reason} for h in self.assessment.hits]
