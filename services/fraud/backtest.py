"""Backtests (MON-3): a rule set replayed over a past period of stored events and judged against the labels staff
gave resolved cases, so that what past fraud teaches is measured before a rule set goes live.

Replay: each stored event of a scored operation (OPERATION_OF_EVENT) becomes the question /score would have
been asked at that instant — features as of the event's time, from the events before it — assessed with the
rule set under test, with the deny lists and snoozed rules that were in force then. Flagged: any action
other than "allow". The line's maximum is not in the events, so `first_at_maximum` never hits in a replay.

Truth (LABEL_BEFORE, LABEL_AFTER): an event is "fraud" when its customer has a resolved case labelled fraud
opened from 10 minutes before the event to 7 days after it (a case opened by the operation's own score
precedes its event by the scoring and any step-up); "legit" when the customer has resolved cases in that
window and all are labelled legit; otherwise unlabelled, counted apart and outside the confusion matrix.
The label is the customer's, not the event's: a victim's own logins in the days before a takeover case
count as fraud the rules missed.

Memory stays bounded: events are read in pages ordered by (occurred_at, id), each page in its own short
transaction with the cases that label it; only the deny lists, the snoozes and five examples per rule are held.
"""

from __future__ import annotations

import bisect
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import features, models
from services.fraud.features import ScoreContext
from services.fraud.rule_sets import load_rule_set
from services.fraud.rules import ACTIONS, Assessment, Lists, RuleSetBody, evaluate
from shared.problems import Problem

# The event each scored operation leaves behind, named by the operation types of the policy.
OPERATION_OF_EVENT: Mapping[str, str] = MappingProxyType(
    {
        "login_succeeded": "login",
        "withdrawal_requested": "withdrawal",
        "charge_requested": "charge",
        "bank_account_linked": "bank_link",
        "attribute_changed": "profile_change",
        "password_changed": "password_change",
    }
)
LABEL_BEFORE = timedelta(minutes=10)
LABEL_AFTER = timedelta(days=7)
PAGE_SIZE = 200  # on SQLite a page's transaction holds the write lock: short pages let intake in between
EXAMPLES_PER_RULE = 5

Label = Literal["fraud", "legit"]
Progress = Callable[[int, int], None]
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
T = TypeVar("T")


class InvalidPeriod(Problem):
    status = 422
    code = "validation_failed"


def check_period(since: datetime, until: datetime, *, longest: timedelta | None = None) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidPeriod("since and until need a time zone.", violations=[_violation("since", "naive time")])
    if since >= until:
        raise InvalidPeriod(
            "since must be before until.", violations=[_violation("since", "since must be before until")]
        )
    if longest is not None and until - since > longest:
        message = (
            f"A backtest here covers at most {longest.days} days; longer periods run with `sekisho fraud backtest`."
        )
        raise InvalidPeriod(message, violations=[_violation("until", message)])


def _violation(name: str, message: str) -> dict[str, str]:
    return {"field": name, "code": "invalid", "message": message}


# ---- the report ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    event_id: str
    customer_id: str | None
    operation: str
    at: datetime
    score: int
    action: str
    label: Label | None
    reasons: tuple[tuple[str, int, str], ...]  # (rule, weight, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "customer_id": self.customer_id,
            "operation": self.operation,
            "at": self.at.isoformat(),
            "score": self.score,
            "action": self.action,
            "label": self.label,
            "reasons": [{"rule": rule, "weight": weight, "reason": reason} for rule, weight, reason in self.reasons],
        }


@dataclass
class RuleTally:
    """How often one rule hit, on which labels, with the first events it hit."""

    hits: int = 0
    fraud: int = 0
    legit: int = 0
    examples: list[Example] = field(default_factory=list)


@dataclass
class Confusion:
    """Over labelled events: flagged fraud (tp), flagged legit (fp), missed fraud (fn), passed legit (tn)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        fraud = self.tp + self.fn
        return self.tp / fraud if fraud else None


@dataclass
class BacktestReport:
    since: datetime
    until: datetime
    rule_set_version: int | None
    events: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    unlabelled: int = 0
    confusion: Confusion = field(default_factory=Confusion)
    rules: dict[str, RuleTally] = field(default_factory=dict)  # every enabled rule, in the rule set's order
    seconds: float = 0.0

    @property
    def flagged(self) -> int:
        return self.events - self.actions["allow"]

    @property
    def labelled(self) -> int:
        return self.events - self.unlabelled

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def count(self, event: Any, operation: str, assessment: Assessment, label: Label | None) -> None:
        self.events += 1
        self.actions[assessment.action] += 1
        flagged = assessment.action != "allow"
        if label is None:
            self.unlabelled += 1
        elif label == "fraud":
            self.confusion.tp += flagged
            self.confusion.fn += not flagged
        else:
            self.confusion.fp += flagged
            self.confusion.tn += not flagged
        for hit in assessment.hits:
            tally = self.rules.setdefault(hit.rule, RuleTally())
            tally.hits += 1
            tally.fraud += label == "fraud"
            tally.legit += label == "legit"
            if len(tally.examples) < EXAMPLES_PER_RULE:
                reasons = tuple((h.rule, h.weight, h.reason) for h in assessment.hits)
                tally.examples.append(
                    Example(
                        event.id,
                        event.customer_id,
                        operation,
                        event.occurred_at,
                        assessment.score,
                        assessment.action,
                        label,
                        reasons,
                    )
                )

    def customers_shown(self) -> list[str]:
        """The customers the examples name (an audit entry records them)."""
        return sorted({e.customer_id for t in self.rules.values() for e in t.examples if e.customer_id})

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_set_version": self.rule_set_version,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "events": self.events,
            "labelled": self.labelled,
            "unlabelled": self.unlabelled,
            "flagged": self.flagged,
            "actions": dict(self.actions),
            "confusion": {
                "tp": self.confusion.tp,
                "fp": self.confusion.fp,
                "fn": self.confusion.fn,
                "tn": self.confusion.tn,
            },
            "precision": self.confusion.precision,
            "recall": self.confusion.recall,
            "rules": {
                rule: {
                    "hits": tally.hits,
                    "fraud": tally.fraud,
                    "legit": tally.legit,
                    "examples": [example.to_json() for example in tally.examples],
                }
                for rule, tally in self.rules.items()
            },
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
        }

    def to_text(self) -> str:
        """The report as a table for a terminal."""
        c = self.confusion
        version = f"rule set v{self.rule_set_version}" if self.rule_set_version is not None else "rule set"
        lines = [
            f"{version}: events from {self.since.isoformat()} to {self.until.isoformat()}",
            f"events replayed  {self.events:,} ({self.labelled:,} labelled, {self.unlabelled:,} unlabelled)"
            f" in {self.seconds:.1f} s, {self.events_per_second:,.0f} events/s",
            "actions          "
            + "  ".join(f"{action} {count:,}" for action, count in self.actions.items())
            + f"  (flagged {self.flagged:,})",
            "",
            f"{'':14}{'fraud':>10}{'legit':>10}",
            f"{'flagged':14}{c.tp:>10,}{c.fp:>10,}     tp / fp",
            f"{'not flagged':14}{c.fn:>10,}{c.tn:>10,}     fn / tn",
            f"precision {_ratio(c.precision)}   recall {_ratio(c.recall)}",
            "",
            f"{'rule':28}{'hits':>8}{'fraud':>8}{'legit':>8}",
        ]
        lines += [f"{rule:28}{t.hits:>8,}{t.fraud:>8,}{t.legit:>8,}" for rule, t in self.rules.items()]
        for rule, tally in self.rules.items():
            if tally.examples:
                lines += ["", f"{rule}: examples"]
                lines += [
                    f"  {e.event_id}  {e.customer_id or '-'}  {e.at.isoformat()}  {e.operation}  "
                    f"{e.score} {e.action}  {e.label or 'unlabelled'}: "
                    + " + ".join(reason for _, _, reason in e.reasons)
                    for e in tally.examples
                ]
        return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# ---- what was in force at an instant --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span(Generic[T]):
    start: datetime
    end: datetime | None  # exclusive; None: still in force
    value: T


class _AsOf(Generic[T]):
    """Values in force over spans of time. Between two span boundaries nothing changes, so the values in force
    are worked out again only when an instant crosses one (the replay moves forward in time)."""

    def __init__(self, spans: Iterable[_Span[T]]) -> None:
        self._spans = list(spans)
        self._boundaries = sorted({s.start for s in self._spans} | {s.end for s in self._spans if s.end is not None})
        self._key: int | None = None
        self._values: list[T] = []
        self.generation = 0  # changes whenever the values in force were worked out again

    def at(self, instant: datetime) -> list[T]:
        key = bisect.bisect_right(self._boundaries, instant)
        if key != self._key:
            self._key = key
            self.generation += 1
            self._values = [s.value for s in self._spans if s.start <= instant and (s.end is None or instant < s.end)]
        return self._values


class _Context:
    """The deny lists and the snoozed rules as they were at each instant (what /score would have used then)."""

    def __init__(self, deny: _AsOf[tuple[str, str]], snoozed: _AsOf[tuple[str, str, str]]) -> None:
        self._deny = deny
        self._snoozed = snoozed
        self._lists_key: int | None = None
        self._lists = Lists()

    @classmethod
    async def load(cls, session: AsyncSession) -> _Context:
        e = models.list_entry
        entries = (
            await session.execute(
                select(e.c.list, e.c.value, e.c.created_at, e.c.expires_at, e.c.removed_at).where(e.c.kind == "deny")
            )
        ).all()
        s = models.suppression
        snoozes = (
            await session.execute(
                select(s.c.entity_type, s.c.entity_value, s.c.rule_id, s.c.created_at, s.c.until, s.c.lifted_at)
            )
        ).all()
        return cls(
            _AsOf(_Span(r.created_at, _earliest(r.expires_at, r.removed_at), (r.list, r.value)) for r in entries),
            _AsOf(
                _Span(r.created_at, _earliest(r.until, r.lifted_at), (r.entity_type, r.entity_value, r.rule_id))
                for r in snoozes
            ),
        )

    def lists_at(self, instant: datetime) -> Lists:
        entries = self._deny.at(instant)
        if self._lists_key != self._deny.generation:
            self._lists_key = self._deny.generation
            self._lists = _lists_of(entries)
        return self._lists

    def suppressed_at(self, instant: datetime, entities: Iterable[tuple[str, str | None]]) -> frozenset[str]:
        wanted = {(kind, value) for kind, value in entities if value}
        return frozenset(rule for kind, value, rule in self._snoozed.at(instant) if (kind, value) in wanted)


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _lists_of(entries: Iterable[tuple[str, str]]) -> Lists:
    values: dict[str, set[str]] = {}
    for name, value in entries:
        values.setdefault(name, set()).add(value)
    networks = []
    for value in values.get("ips", ()):
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            continue  # refused at entry, as the scorer does
    return Lists(
        ips=tuple(networks),
        devices=frozenset(values.get("devices", ())),
        customers=frozenset(values.get("customers", ())),
        bank_accounts=frozenset(values.get("bank_accounts", ())),
    )


# ---- the replay ------------------------------------------------------------------------------------------------------


def _window(since: datetime, until: datetime) -> list[Any]:
    e = models.event
    return [e.c.type.in_(list(OPERATION_OF_EVENT)), e.c.occurred_at >= since, e.c.occurred_at < until]


async def _page(session: AsyncSession, where: list[Any], after: tuple[datetime, str] | None, size: int) -> list[Any]:
    e = models.event
    query = select(
        e.c.id,
        e.c.type,
        e.c.occurred_at,
        e.c.customer_id,
        e.c.device_id,
        e.c.device_key,
        e.c.ip,
        e.c.amount,
        e.c.bank_account,
    ).where(*where)
    if after is not None:
        at, event_id = after
        query = query.where(or_(e.c.occurred_at > at, and_(e.c.occurred_at == at, e.c.id > event_id)))
    return list((await session.execute(query.order_by(e.c.occurred_at, e.c.id).limit(size))).all())


async def _labels(session: AsyncSession, events: list[Any]) -> dict[str, Label]:
    """Each event's label by the rule in the module docstring; unlabelled events are left out."""
    customers = {event.customer_id for event in events if event.customer_id}
    if not customers:
        return {}
    c = models.case
    cases = (
        await session.execute(
            select(c.c.customer_id, c.c.opened_at, c.c.label).where(
                c.c.customer_id.in_(sorted(customers)),
                c.c.status == "resolved",
                c.c.label.in_(("fraud", "legit")),
                c.c.opened_at >= events[0].occurred_at - LABEL_BEFORE,
                c.c.opened_at <= events[-1].occurred_at + LABEL_AFTER,
            )
        )
    ).all()
    by_customer: dict[str, list[Any]] = {}
    for case in cases:
        by_customer.setdefault(case.customer_id, []).append(case)
    labels: dict[str, Label] = {}
    for event in events:
        found = {
            case.label
            for case in by_customer.get(event.customer_id, ())
            if event.occurred_at - LABEL_BEFORE <= case.opened_at <= event.occurred_at + LABEL_AFTER
        }
        if found:
            labels[event.id] = "fraud" if "fraud" in found else "legit"
    return labels


def _context_of(event: Any) -> ScoreContext:
    return ScoreContext(
        operation=OPERATION_OF_EVENT[event.type],
        at=event.occurred_at,
        customer_id=event.customer_id,
        device_id=event.device_id,
        device_key=event.device_key,
        ip=event.ip,
        amount=event.amount,
        bank_account=event.bank_account,
    )


async def run_backtest(
    sessions: Sessions,
    body: RuleSetBody,
    *,
    since: datetime,
    until: datetime,
    version: int | None = None,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> BacktestReport:
    """Replay [since, until) with `body`. `sessions` opens a short read session (Database.reading), one per page;
    `progress(done, total)` is called after every event (total as counted at the start)."""
    check_period(since, until)
    started = time.monotonic()
    report = BacktestReport(since, until, version)
    report.rules = {rule.id: RuleTally() for rule in body.rules if rule.enabled}
    where = _window(since, until)
    async with sessions() as session:
        total = int((await session.execute(select(func.count()).select_from(models.event).where(*where))).scalar_one())
        in_force = await _Context.load(session)
    if progress is not None:
        progress(0, total)
    after: tuple[datetime, str] | None = None
    while True:
        async with sessions() as session:
            events = await _page(session, where, after, page_size)
            labels = await _labels(session, events)
            for event in events:
                context = _context_of(event)
                found = await features.compute(session, context)
                suppressed = in_force.suppressed_at(
                    event.occurred_at,
                    (
                        ("customer", event.customer_id),
                        ("device", found.device_key),
                        ("device", found.device_digest),  # snoozed by the digest staff see, as in scoring.py
                        ("ip", event.ip),
                    ),
                )
                assessment = evaluate(body, found, lists=in_force.lists_at(event.occurred_at), suppressed=suppressed)
                report.count(event, context.operation, assessment, labels.get(event.id))
                if progress is not None:
                    progress(report.events, total)
        if len(events) < page_size:
            break
        after = (events[-1].occurred_at, events[-1].id)
    report.seconds = time.monotonic() - started
    return report


async def backtest_version(
    sessions: Sessions,
    *,
    version: int,
    since: datetime,
    until: datetime,
    progress: Progress | None = None,
) -> BacktestReport:
    """Backtest a stored version (a draft, the live one, or a retired one)."""
    check_period(since, until)
    async with sessions() as session:
        rule_set = await load_rule_set(session, version=version)
    return await run_backtest(sessions, rule_set.body, since=since, until=until, version=version, progress=progress)
