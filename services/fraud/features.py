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

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from shared.geo import place_of
from shared.networks import network_of

JST = ZoneInfo("Asia/Tokyo")
HISTORY = timedelta(days=90)  # how far back the customer's own habits are read
HISTORY_ROWS = 5000  # a customer with more events in 90 days is read from the latest ones

# Event types as the producing services report them (shared/events.py).
MONEY_DONE = frozenset({"withdrawal_completed", "charge_completed"})  # money that moved: habits and velocity
MONEY_ASKED = frozenset({"withdrawal_requested", "charge_requested"})  # attempts: velocity of count
LOGIN_FAILED = "login_failed"
BANK_LINKED = "bank_account_linked"
# What a change event says was changed, named as the rules name it.
CHANGES = {"attribute_changed": None, "password_changed": "password", "factor_changed": "mfa"}


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
    # the customer
    customer_known: bool = False  # any event before this one
    customer_age_hours: float | None = None  # since the account was opened (or its first event)
    device_seen_before: bool = False  # this device, for this customer
    countries_90d: frozenset[str] = frozenset()
    asns_90d: frozenset[str] = frozenset()
    last_country: str | None = None
    last_country_at: datetime | None = None
    hours_since_change: dict[str, float] = field(default_factory=dict)  # phone, email, address, password, mfa
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


async def compute(session: AsyncSession, context: ScoreContext) -> Features:
    place = place_of(context.ip) if context.ip else None
    country = place.country_code if place else None
    asn = getattr(place, "network_name", None) if place else None
    network = network_of(context.ip) if context.ip else None
    values: dict[str, Any] = {"country": country, "asn": asn, "network": network}
    device_key = context.device_key
    if context.customer_id is not None:
        own, device_key = await _customer_features(session, context, country)
        values.update(own)
    values["device_key"] = device_key
    values.update(await _shared_features(session, context, device_key, network))
    return Features(context=context, **values)


async def _customer_features(
    session: AsyncSession, context: ScoreContext, country: str | None
) -> tuple[dict[str, Any], str | None]:
    e = models.event
    at = context.at
    rows = (
        await session.execute(
            select(
                e.c.type,
                e.c.occurred_at,
                e.c.device_id,
                e.c.device_key,
                e.c.country,
                e.c.asn,
                e.c.amount,
                e.c.bank_account,
                e.c.data,
            )
            .where(e.c.customer_id == context.customer_id, e.c.occurred_at < at, e.c.occurred_at >= at - HISTORY)
            .order_by(e.c.occurred_at.desc())
            .limit(HISTORY_ROWS)
        )
    ).all()
    device_key = context.device_key
    if device_key is None and context.device_id is not None:
        device_key = next((r.device_key for r in rows if r.device_id == context.device_id and r.device_key), None)
    values: dict[str, Any] = {"customer_known": bool(rows)}
    opened = next((r.occurred_at for r in rows if r.type == "account_opened"), None)
    if opened is None:
        first = (
            await session.execute(
                select(func.min(e.c.occurred_at)).where(e.c.customer_id == context.customer_id, e.c.occurred_at < at)
            )
        ).scalar()
        opened = first
        values["customer_known"] = first is not None
    if opened is not None:
        values["customer_age_hours"] = _hours(at, opened)
    values["device_seen_before"] = device_key is not None and any(r.device_key == device_key for r in rows)
    values["countries_90d"] = frozenset(r.country for r in rows if r.country)
    values["asns_90d"] = frozenset(r.asn for r in rows if r.asn)
    located = next((r for r in rows if r.country), None)
    if located is not None:
        values["last_country"], values["last_country_at"] = located.country, located.occurred_at
    values["hours_since_change"] = _changes(rows, at)
    values["customer_failed_logins_1h"] = sum(
        1 for r in rows if r.type == LOGIN_FAILED and r.occurred_at >= at - timedelta(hours=1)
    )
    values["customer_failed_logins_24h"] = sum(
        1 for r in rows if r.type == LOGIN_FAILED and r.occurred_at >= at - timedelta(hours=24)
    )
    links = [r for r in rows if r.type == BANK_LINKED]
    values["links_24h"] = sum(1 for r in links if r.occurred_at >= at - timedelta(hours=24))
    linked = next((r for r in links if r.bank_account and r.bank_account == context.bank_account), None)
    if linked is not None:
        values["link_age_hours"] = _hours(at, linked.occurred_at)
    money = [r for r in rows if r.type in MONEY_DONE and r.amount is not None]
    asked = [r for r in rows if r.type in MONEY_ASKED]  # attempts, declined ones too: how often, not how much
    values["money_count_1m"] = sum(1 for r in asked if r.occurred_at >= at - timedelta(minutes=1))
    values["money_count_1h"] = sum(1 for r in asked if r.occurred_at >= at - timedelta(hours=1))
    values["money_count_24h"] = sum(1 for r in asked if r.occurred_at >= at - timedelta(hours=24))
    values["money_amount_24h"] = sum(r.amount for r in money if r.occurred_at >= at - timedelta(hours=24))
    values["money_amount_30d"] = sum(r.amount for r in money if r.occurred_at >= at - timedelta(days=30))
    values["past_amounts"] = tuple(int(r.amount) for r in money)
    values["past_withdrawals"] = sum(1 for r in money if r.type == "withdrawal_completed")
    hours = [r.occurred_at.astimezone(JST).hour for r in rows if r.type in ("login_succeeded", *MONEY_DONE)]
    if hours:
        now_hour = at.astimezone(JST).hour
        near = {(now_hour + d) % 24 for d in (-1, 0, 1)}
        values["hour_share"] = sum(1 for h in hours if h in near) / len(hours)
        values["hour_events"] = len(hours)
    return values, device_key


def _changes(rows: Sequence[Any], at: datetime) -> dict[str, float]:
    """Hours since the latest change of each of phone, email, address, password and MFA."""
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
    session: AsyncSession, context: ScoreContext, device_key: str | None, network: str | None
) -> dict[str, Any]:
    """Counts over everyone: distinct customers on this device, IP, network and bank account, failures from this IP."""
    e = models.event
    at = context.at

    def distinct_customers(column: Any, value: Any, since: timedelta) -> Any:
        return (
            select(func.count(distinct(e.c.customer_id)))
            .where(column == value, e.c.occurred_at >= at - since, e.c.occurred_at < at)
            .scalar_subquery()
        )

    columns = {
        "device_customers_30d": distinct_customers(e.c.device_key, device_key, timedelta(days=30))
        if device_key
        else None,
        "ip_customers_24h": distinct_customers(e.c.ip, context.ip, timedelta(hours=24)) if context.ip else None,
        "network_customers_24h": distinct_customers(e.c.network, network, timedelta(hours=24)) if network else None,
        "bank_account_customers_30d": distinct_customers(e.c.bank_account, context.bank_account, timedelta(days=30))
        if context.bank_account
        else None,
        "ip_failed_logins_1h": select(func.count())
        .where(
            and_(e.c.ip == context.ip, e.c.type == LOGIN_FAILED),
            e.c.occurred_at >= at - timedelta(hours=1),
            e.c.occurred_at < at,
        )
        .scalar_subquery()
        if context.ip
        else None,
    }
    wanted = {name: column for name, column in columns.items() if column is not None}
    if not wanted:
        return {}
    row = (await session.execute(select(*(column.label(name) for name, column in wanted.items())))).one()
    return {name: int(getattr(row, name) or 0) for name in wanted}
