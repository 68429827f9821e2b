"""Cases for review (RESP-1/3) and snoozed rules (MON-3): the queries behind the staff routes, and the entities
linked to a case — the devices, IPs, networks and bank accounts around its customer, and who else used them,
which is how mule accounts, shared phones and the Docomo pattern show up.

A case is resolved once, with a label (fraud | legit) that backtests and indicator exports read; a
suppression is lifted, never deleted. Both keep who did what and when.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.rules import RuleSetBody
from shared.ids import new_id
from shared.networks import network_of
from shared.problems import Problem, invalid

LINK_WINDOW = timedelta(days=30)
LINK_CAP = 50  # per kind: the entities and the customers linked through them
MAX_SUPPRESSION = timedelta(days=90)
ENTITY_TYPES = ("customer", "device", "ip")
_ENTITY_LENGTH = {"customer": 40, "device": 200, "ip": 64}


class CaseNotFound(Problem):
    status = 404
    code = "case_not_found"


class CaseAlreadyResolved(Problem):
    status = 409
    code = "case_already_resolved"


class SuppressionNotFound(Problem):
    status = 404
    code = "suppression_not_found"


class SuppressionLifted(Problem):
    status = 409
    code = "suppression_already_lifted"


# ---- cases ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    opened_at: datetime
    status: str
    score_id: str | None
    operation: str
    customer_id: str | None
    device_id: str | None
    ip: str | None
    score: int
    reasons: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    label: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    assignee: str | None
    assigned_at: datetime | None
    assigned_by: str | None


def case_of(row: Any) -> Case:
    values = {name: getattr(row, name) for name in Case.__dataclass_fields__}
    values["reasons"], values["actions"] = json.loads(row.reasons), json.loads(row.actions)
    return Case(**values)


async def get_case(session: AsyncSession, case_id: str) -> Case:
    row = (await session.execute(select(models.case).where(models.case.c.id == case_id))).first()
    if row is None:
        raise CaseNotFound(f"There is no case {case_id[:40]!r}.")
    return case_of(row)


async def resolve_case(session: AsyncSession, *, case_id: str, label: str, note: str, by: str, now: datetime) -> Case:
    """Close an unresolved case (open, in review or escalated) with its label; a case already resolved keeps its first
    resolution (409)."""
    c = models.case
    rows = (
        await session.execute(
            update(c)
            .where(c.c.id == case_id, c.c.status != "resolved")
            .values(status="resolved", label=label, note=note, resolved_at=now, resolved_by=by)
            .returning(*c.c)
        )
    ).all()
    if rows:
        return case_of(rows[0])
    found = await get_case(session, case_id)  # 404 when there is no such case
    raise CaseAlreadyResolved(
        f"The case was already resolved as {found.label} by {found.resolved_by}.",
        resolved_at=found.resolved_at.isoformat() if found.resolved_at else None,
    )


# ---- linked entities -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    value: str
    events: int  # of the case's customer (0 when only the case itself named it)
    first_seen: datetime | None
    last_seen: datetime | None
    customers: int  # distinct customers seen on it in the window, the case's customer included


@dataclass(frozen=True)
class LinkedCustomer:
    customer_id: str
    via: list[str]  # the entities of this kind they share with the case
    events: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Links:
    entities: list[Entity]
    customers: list[LinkedCustomer]
    truncated: bool


@dataclass(frozen=True)
class Linked:
    since: datetime
    until: datetime
    kinds: dict[str, Links]  # devices | ips | networks | bank_accounts

    def customer_ids(self) -> list[str]:
        return sorted({c.customer_id for links in self.kinds.values() for c in links.customers})


def _columns() -> dict[str, Any]:
    e = models.event
    return {"devices": e.c.device_key, "ips": e.c.ip, "networks": e.c.network, "bank_accounts": e.c.bank_account}


async def linked_entities(session: AsyncSession, case: Case, *, now: datetime) -> Linked:
    """From the case's customer, device key(s), IP and bank account: the devices, IPs, networks and bank accounts the
    customer used, and the other customers on them, each with counts and first/last seen. The window runs from
    30 days before the case opened up to now: what came after the case (the phone still in use) matters too."""
    since, until = min(case.opened_at, now) - LINK_WINDOW, now
    e = models.event
    window = [e.c.occurred_at >= since, e.c.occurred_at <= until]
    seeds = await _case_seeds(session, case, window)
    kinds: dict[str, Links] = {}
    for kind, column in _columns().items():
        kinds[kind] = await _links(session, case.customer_id, column, seeds[kind], window)
    return Linked(since, until, kinds)


async def _case_seeds(session: AsyncSession, case: Case, window: list[ColumnElement[bool]]) -> dict[str, set[str]]:
    """What the case itself names: the IP and its network, the device keys behind its device id (from the events)
    and in the request scored, the bank account scored."""
    seeds: dict[str, set[str]] = {"devices": set(), "ips": set(), "networks": set(), "bank_accounts": set()}
    if case.ip:
        seeds["ips"].add(case.ip)
        network = network_of(case.ip)
        if network:
            seeds["networks"].add(network)
    if case.score_id:
        row = (await session.execute(select(models.score.c.context).where(models.score.c.id == case.score_id))).first()
        context = json.loads(row.context) if row is not None else {}
        for kind, name in (("devices", "device_key"), ("bank_accounts", "bank_account")):
            if isinstance(context.get(name), str) and context[name]:
                seeds[kind].add(context[name])
    if case.device_id:
        e = models.event
        keys = await session.execute(
            select(e.c.device_key)
            .where(e.c.device_id == case.device_id, e.c.device_key.is_not(None), *window)
            .distinct()
            .limit(LINK_CAP)
        )
        seeds["devices"].update(key for (key,) in keys.all())
    return seeds


async def _links(
    session: AsyncSession,
    customer_id: str | None,
    column: Any,
    seeds: set[str],
    window: list[ColumnElement[bool]],
) -> Links:
    e = models.event
    used: dict[str, tuple[int, datetime | None, datetime | None]] = {}
    truncated = False
    if customer_id is not None:
        rows = (
            await session.execute(
                select(column.label("value"), func.count(), func.min(e.c.occurred_at), func.max(e.c.occurred_at))
                .where(e.c.customer_id == customer_id, column.is_not(None), *window)
                .group_by(column)
                .order_by(func.max(e.c.occurred_at).desc())
                .limit(LINK_CAP + 1)
            )
        ).all()
        truncated = len(rows) > LINK_CAP
        used = {row[0]: (row[1], row[2], row[3]) for row in rows[:LINK_CAP]}
    values = list(used) + sorted(seeds - set(used))  # the case's own values are shown even past the cap
    if not values:
        return Links([], [], truncated)
    counted = await session.execute(
        select(column, func.count(distinct(e.c.customer_id))).where(column.in_(values), *window).group_by(column)
    )
    counts = {row[0]: int(row[1]) for row in counted.all()}
    entities = []
    for value in values:
        events, first_seen, last_seen = used.get(value) or (0, None, None)
        entities.append(Entity(value, events, first_seen, last_seen, customers=counts.get(value, 0)))
    customers, more = await _customers_on(session, customer_id, column, values, window)
    return Links(entities, customers, truncated or more)


async def _customers_on(
    session: AsyncSession, customer_id: str | None, column: Any, values: list[str], window: list[ColumnElement[bool]]
) -> tuple[list[LinkedCustomer], bool]:
    """The other customers seen on `values`, most recently seen first, capped; and whether there were more."""
    e = models.event
    others = [column.in_(values), e.c.customer_id.is_not(None), *window]
    if customer_id is not None:
        others.append(e.c.customer_id != customer_id)
    rows = (
        await session.execute(
            select(e.c.customer_id, func.count(), func.min(e.c.occurred_at), func.max(e.c.occurred_at))
            .where(*others)
            .group_by(e.c.customer_id)
            .order_by(func.max(e.c.occurred_at).desc(), e.c.customer_id)
            .limit(LINK_CAP + 1)
        )
    ).all()
    shown = rows[:LINK_CAP]
    if not shown:
        return [], False
    via: dict[str, set[str]] = {}
    pairs = await session.execute(
        select(e.c.customer_id, column).where(*others, e.c.customer_id.in_([row[0] for row in shown])).distinct()
    )
    for found, value in pairs.all():
        via.setdefault(found, set()).add(value)
    customers = [LinkedCustomer(row[0], sorted(via.get(row[0], set())), row[1], row[2], row[3]) for row in shown]
    return customers, len(rows) > LINK_CAP


# ---- suppressions (MON-3) ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    id: str
    rule_id: str
    entity_type: str
    entity_value: str
    until: datetime
    note: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None

    def in_force(self, now: datetime) -> bool:
        return self.lifted_at is None and self.until > now


def _suppression(row: Any) -> Suppression:
    return Suppression(**{name: getattr(row, name) for name in Suppression.__dataclass_fields__})


async def suppressions(session: AsyncSession, *, now: datetime, include_ended: bool, limit: int) -> list[Suppression]:
    """Suppressions newest first: those in force, or also those lifted or expired."""
    s = models.suppression
    query = select(s).order_by(s.c.created_at.desc(), s.c.id.desc()).limit(limit)
    if not include_ended:
        query = query.where(s.c.lifted_at.is_(None), s.c.until > now)
    return [_suppression(row) for row in (await session.execute(query)).all()]


async def live_rule_ids(session: AsyncSession) -> set[str]:
    """The rule ids of the live rule set, read now (not the scorer's cache: a rule just retired must not pass)."""
    r = models.rule_set
    body = (await session.execute(select(r.c.body).where(r.c.status == "live"))).scalar()
    return {rule.id for rule in RuleSetBody.model_validate_json(body).rules} if body else set()


def entity_value_of(entity_type: str, value: str) -> str:
    """The value as the scorer compares it: a customer id, a device KEY (the app's own device id, not auth's
    per-customer device id), or one IP address written canonically."""
    value = value.strip()
    if not value:
        raise invalid("entity_value", "The entity value is empty.")
    if entity_type == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise invalid(
                "entity_value", f"{value[:64]!r} is not an IP address (a rule is snoozed per address)."
            ) from None
    if len(value) > _ENTITY_LENGTH[entity_type]:
        raise invalid("entity_value", f"A {entity_type} value has at most {_ENTITY_LENGTH[entity_type]} characters.")
    return value


async def add_suppression(
    session: AsyncSession,
    *,
    rule_id: str,
    entity_type: str,
    entity_value: str,
    until: datetime,
    note: str,
    by: str,
    now: datetime,
) -> Suppression:
    """Snooze `rule_id` for one customer, device or IP until `until` (at most 90 days ahead)."""
    value = entity_value_of(entity_type, entity_value)
    if until <= now:
        raise invalid("until", "until must be in the future.")
    if until > now + MAX_SUPPRESSION:
        raise invalid("until", f"A rule is snoozed for at most {MAX_SUPPRESSION.days} days.")
    if rule_id not in await live_rule_ids(session):
        raise invalid("rule_id", f"There is no rule {rule_id!r} in the live rule set.")
    added = Suppression(
        id=new_id("sup"),
        rule_id=rule_id,
        entity_type=entity_type,
        entity_value=value,
        until=until,
        note=note,
        created_by=by,
        created_at=now,
        lifted_at=None,
        lifted_by=None,
    )
    await session.execute(models.suppression.insert().values(**asdict(added)))
    return added


async def lift_suppression(session: AsyncSession, *, suppression_id: str, by: str, now: datetime) -> Suppression:
    """End a suppression now; it is kept, with who lifted it. Lifting one already lifted is a 409."""
    s = models.suppression
    rows = (
        await session.execute(
            update(s)
            .where(s.c.id == suppression_id, s.c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_by=by)
            .returning(*s.c)
        )
    ).all()
    if rows:
        return _suppression(rows[0])
    row = (await session.execute(select(s).where(s.c.id == suppression_id))).first()
    if row is None:
        raise SuppressionNotFound(f"There is no suppression {suppression_id[:40]!r}.")
    raise SuppressionLifted(f"The suppression was already lifted by {row.lifted_by}.")
