"""Features of an operation about to happen, from the stored events, as of its time (MON-3).

Per customer, device, IP, network (/24) and bank account, over sliding windows (1 min, 1 h, 24 h, 30 days):
counts and amounts, distinct customers per device and per IP, first-seen ages, the customer's usual hours,
amounts and countries, and the latest changes of contact data and credentials. Everything is computed "as
of" `ScoreContext.at`, using only events before it, so that a backtest sees exactly what /score would
have seen then.

Two statements per operation: the customer's own recent events (read into Python, at most a few thousand
rows), and one row of counts over the device, the IP and the network (index range scans).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, bindparam, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.device_digests import device_digest
from shared.geo import place_of
from shared.networks import network_of
from shared.statements import Prepared, Statements, statements_of

JST = ZoneInfo("Asia/Tokyo")
HISTORY = timedelta(days=90)  # how far back the customer's own habits are read
HISTORY_ROWS = 5000  # a customer with more events in 90 days is read from the latest ones

# Event types as the producing services report them (shared/events.py).
MONEY_DONE = frozenset({"withdrawal_completed", "charge_completed"})  # money that moved: habits and velocity
MONEY_ASKED = frozenset({"withdrawal_requested", "charge_requested"})  # attempts: velocity of count
LOGIN_FAILED = "login_failed"
BANK_LINKED = "bank_account_linked"
# What a change event says was changed, named as the rules name it.
# A password reset (auth's password_reset.py) is a change of password, and the likelier one in a takeover.
CHANGES = {
    "attribute_changed": None,
    "password_changed": "password",
    "password_reset": "password",
    "factor_changed": "mfa",
    "recovery_code_used": "recovery_code",
    "recovery_codes_regenerated": "mfa",
}


@dataclass(frozen=True)
class ScoreContext:
    """The operation to score: who, from where, what (the gateway's request to /score, or a replayed event)."""

    operation: str
    at: datetime
    customer_id: str | None = None
    device_id: str | None = None  # the session's device (auth's device id)
    device_key: str | None = None  # the app's own device id, when known
    ip: str | None = None
    amount: int | None = None
    bank_account: str | None = None  # keyed digest
    max_amount: int | None = None  # the most this operation may move for this customer (the line's maximum)


@dataclass(frozen=True)
class Features:
    context: ScoreContext
    country: str | None = None
    asn: str | None = None
    network: str | None = None
    device_key: str | None = None
    device_digest: str | None = None  # of device_key, as the devices list holds it (device_digests.py)
    # the customer
    customer_known: bool = False  # any event before this one
    customer_age_hours: float | None = None  # since the account was opened (or its first event)
    device_seen_before: bool = False  # this device, for this customer
    countries_90d: frozenset[str] = frozenset()
    asns_90d: frozenset[str] = frozenset()
    last_country: str | None = None
    last_country_at: datetime | None = None
    # phone, email, address, password, mfa, recovery_code
    hours_since_change: dict[str, float] = field(default_factory=dict)
    customer_failed_logins_1h: int = 0
    customer_failed_logins_24h: int = 0
    link_age_hours: float | None = None  # this bank account, linked by this customer
    links_24h: int = 0
    money_count_1m: int = 0
    money_count_1h: int = 0
    money_count_24h: int = 0
    money_amount_24h: int = 0
    money_amount_30d: int = 0
    past_amounts: tuple[int, ...] = ()  # money that moved, 90 days, newest first
    past_withdrawals: int = 0
    hour_share: float | None = None  # share of the customer's events within ±1 h of this hour of day (JST)
    hour_events: int = 0
    # others sharing the device, the IP, the network
    device_customers_30d: int = 0
    ip_customers_24h: int = 0
    network_customers_24h: int = 0
    ip_failed_logins_1h: int = 0
    bank_account_customers_30d: int = 0

    @property
    def amount_median(self) -> float | None:
        return statistics.median(self.past_amounts) if self.past_amounts else None

    @property
    def amount_spread(self) -> float | None:
        """Median absolute deviation of past amounts: robust to the one big purchase."""
        if not self.past_amounts:
            return None
        median = statistics.median(self.past_amounts)
        return statistics.median(abs(a - median) for a in self.past_amounts)


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


async def compute(
    session: AsyncSession | Statements, context: ScoreContext, *, beside: AsyncSession | Statements | None = None
) -> Features:
    """The features of `context`. With `beside` (a second unit, on another connection), the customer's events
    are read there while the shared counts are read in `session`: the two reads wait on the database together.
    /score passes prepared statements on the driver (shared/statements.py), a backtest its session."""
    place = place_of(context.ip) if context.ip else None
    country = place.country_code if place else None
    asn = getattr(place, "network_name", None) if place else None
    network = network_of(context.ip) if context.ip else None
    values: dict[str, Any] = {"country": country, "asn": asn, "network": network}
    if context.customer_id is None:
        rows: Sequence[Any] = ()
        shared = await _shared_features(session, context, network)
    elif beside is None:
        shared = await _shared_features(session, context, network)
        rows = await _customer_events(session, context)
    else:
        shared, rows = await asyncio.gather(
            _shared_features(session, context, network), _customer_events(beside, context)
        )
    device_key, first_event_at = shared.pop("device_key"), shared.pop("first_event_at")
    values.update(shared, device_key=device_key, device_digest=device_digest(device_key) if device_key else None)
    if context.customer_id is not None:
        values.update(_customer_features(rows, context, device_key, first_event_at))
    return Features(context=context, **values)


async def _customer_events(session: AsyncSession | Statements, context: ScoreContext) -> Sequence[Any]:
    """The customer's events over the history window, newest first."""
    at = context.at
    return await statements_of(session).all(
        _CUSTOMER_EVENTS, {"customer_id": context.customer_id, "at": at, "since": at - HISTORY}
    )


def _customer_features(
    rows: Sequence[Any], context: ScoreContext, device_key: str | None, first_event_at: datetime | None
) -> dict[str, Any]:
    at = context.at
    values: dict[str, Any] = {"customer_known": first_event_at is not None}
    # One pass over the customer's events, newest first.
    since_1m, since_1h = at - timedelta(minutes=1), at - timedelta(hours=1)
    since_24h, since_30d = at - timedelta(hours=24), at - timedelta(days=30)
    counts = dict.fromkeys(
        ("failed_1h", "failed_24h", "links_24h", "asked_1m", "asked_1h", "asked_24h", "amount_24h", "amount_30d"), 0
    )
    opened = linked = located = None
    countries: set[str] = set()
    asns: set[str] = set()
    amounts: list[int] = []
    withdrawals = 0
    seen_device = False
    hours: list[int] = []
    for r in rows:
        kind, when = r.type, r.occurred_at
        if r.country:
            countries.add(r.country)
            located = located or r
        if r.asn:
            asns.add(r.asn)
        seen_device = seen_device or (device_key is not None and r.device_key == device_key)
        if kind == "account_opened":
            opened = opened or when
        elif kind == LOGIN_FAILED:
            counts["failed_1h"] += when >= since_1h
            counts["failed_24h"] += when >= since_24h
        elif kind == BANK_LINKED:
            counts["links_24h"] += when >= since_24h
            if linked is None and r.bank_account and r.bank_account == context.bank_account:
                linked = when
        elif kind in MONEY_ASKED:  # attempts, declined ones too: how often, not how much
            counts["asked_1m"] += when >= since_1m
            counts["asked_1h"] += when >= since_1h
            counts["asked_24h"] += when >= since_24h
        elif kind in MONEY_DONE and r.amount is not None:
            amounts.append(int(r.amount))
            withdrawals += kind == "withdrawal_completed"
            counts["amount_24h"] += r.amount if when >= since_24h else 0
            counts["amount_30d"] += r.amount if when >= since_30d else 0
        if kind == "login_succeeded" or kind in MONEY_DONE:
            hours.append((when.hour + 9) % 24)  # JST: UTC+9, no daylight saving
    opened = opened or first_event_at  # accounts older than the history window: their first event
    if opened is not None:
        values["customer_age_hours"] = _hours(at, opened)
    if located is not None:
        values["last_country"], values["last_country_at"] = located.country, located.occurred_at
    if linked is not None:
        values["link_age_hours"] = _hours(at, linked)
    if hours:
        near = {(at.astimezone(JST).hour + d) % 24 for d in (-1, 0, 1)}
        values["hour_share"] = sum(1 for h in hours if h in near) / len(hours)
        values["hour_events"] = len(hours)
    values.update(
        device_seen_before=seen_device,
        countries_90d=frozenset(countries),
        asns_90d=frozenset(asns),
        hours_since_change=_changes(rows, at),
        customer_failed_logins_1h=counts["failed_1h"],
        customer_failed_logins_24h=counts["failed_24h"],
        links_24h=counts["links_24h"],
        money_count_1m=counts["asked_1m"],
        money_count_1h=counts["asked_1h"],
        money_count_24h=counts["asked_24h"],
        money_amount_24h=counts["amount_24h"],
        money_amount_30d=counts["amount_30d"],
        past_amounts=tuple(amounts),
        past_withdrawals=withdrawals,
    )
    return values


def _changes(rows: Sequence[Any], at: datetime) -> dict[str, float]:
    """Hours since the latest change of each of phone, email, address, password, MFA and use of a recovery code."""
    found: dict[str, float] = {}
    for row in rows:  # newest first: the first of each kind is the latest
        if row.type not in CHANGES:
            continue
        named = CHANGES[row.type]
        changed = [named] if named else list(json.loads(row.data).get("attributes", []))
        for name in changed:
            found.setdefault(name, _hours(at, row.occurred_at))
    return found


async def _shared_features(
    session: AsyncSession | Statements, context: ScoreContext, network: str | None
) -> dict[str, Any]:
    """In one statement: counts over everyone (distinct customers on this device, IP, network and bank account,
    failures from this IP), the device key (given, or the one last seen with the session's device id), and the
    customer's first event ever. An unknown value is NULL, which matches nothing."""
    at = context.at
    row = await statements_of(session).one_or_none(
        _SHARED,
        {
            "customer_id": context.customer_id,
            "device_id": context.device_id,
            "device_key": context.device_key,
            "ip": context.ip,
            "network": network,
            "bank_account": context.bank_account,
            "at": at,
            "since_1h": at - timedelta(hours=1),
            "since_24h": at - timedelta(hours=24),
            "since_30d": at - timedelta(days=30),
        },
    )
    return {
        **{name: int(getattr(row, name) or 0) for name in _SHARED_COUNTS},
        "device_key": row.device_key,
        "first_event_at": row.first_event_at,
    }


# The statements are built once (shared/statements.py): building and keying a statement per score cost more
# than running it, and SQLAlchemy's session layer more again.
_e = models.event
_CUSTOMER_EVENTS = Prepared(
    select(
        _e.c.type,
        _e.c.occurred_at,
        _e.c.device_id,
        _e.c.device_key,
        _e.c.country,
        _e.c.asn,
        _e.c.amount,
        _e.c.bank_account,
        _e.c.data,
    )
    .where(
        _e.c.customer_id == bindparam("customer_id"),
        _e.c.occurred_at < bindparam("at"),
        _e.c.occurred_at >= bindparam("since"),
    )
    .order_by(_e.c.occurred_at.desc())
    .limit(HISTORY_ROWS)
)
_SHARED_COUNTS = (
    "device_customers_30d",
    "ip_customers_24h",
    "network_customers_24h",
    "bank_account_customers_30d",
    "ip_failed_logins_1h",
)


def _distinct_customers(column: Any, value: Any, since: str) -> Any:
    return (
        select(func.count(distinct(_e.c.customer_id)))
        .where(column == value, _e.c.occurred_at >= bindparam(since), _e.c.occurred_at < bindparam("at"))
        .scalar_subquery()
    )


# The device key given, or the one this customer's events last carried with the session's device id.
_DEVICE_KEY = func.coalesce(
    bindparam("device_key", type_=String),
    select(_e.c.device_key)
    .where(
        _e.c.customer_id == bindparam("customer_id"),
        _e.c.device_id == bindparam("device_id"),
        _e.c.device_key.is_not(None),
        _e.c.occurred_at < bindparam("at"),
    )
    .order_by(_e.c.occurred_at.desc())
    .limit(1)
    .scalar_subquery(),
)
_SHARED = Prepared(
    select(
        _DEVICE_KEY.label("device_key"),
        select(func.min(_e.c.occurred_at))
        .where(_e.c.customer_id == bindparam("customer_id"), _e.c.occurred_at < bindparam("at"))
        .scalar_subquery()
        .label("first_event_at"),
        _distinct_customers(_e.c.device_key, _DEVICE_KEY, "since_30d").label("device_customers_30d"),
        _distinct_customers(_e.c.ip, bindparam("ip"), "since_24h").label("ip_customers_24h"),
        _distinct_customers(_e.c.network, bindparam("network"), "since_24h").label("network_customers_24h"),
        _distinct_customers(_e.c.bank_account, bindparam("bank_account"), "since_30d").label(
            "bank_account_customers_30d"
        ),
        select(func.count())
        .where(
            and_(_e.c.ip == bindparam("ip"), _e.c.type == LOGIN_FAILED),
            _e.c.occurred_at >= bindparam("since_1h"),
            _e.c.occurred_at < bindparam("at"),
        )
        .scalar_subquery()
        .label("ip_failed_logins_1h"),
    )
)
