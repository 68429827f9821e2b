"""Deny and allow lists (RESP-3, SEC-4): IPs and networks (CIDR), devices, customers, bank accounts.

Entries expire or are removed, never deleted: who added and who removed what stays visible. The deny lists,
with what resolved cases showed, are also what is shared with other companies as indicators (INC-4).
Devices are held by the digest of their key (device_digests.py), whether staff give the key or the digest the
ops views show, or a rule's action lists one: a key and a password log in without the new-device check, so no
list answers a key, and the scorer matches the digest of the key it is asked about.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.device_digests import as_digest, device_digest
from services.fraud.rules import Lists
from shared.ids import new_id
from shared.problems import Problem, invalid

LIST_NAMES = ("ips", "devices", "customers", "bank_accounts")
INFECTED = "malware"  # the reason of a device deny entry that blocks the device itself (SEC-3)


def active(now: datetime) -> list[ColumnElement[bool]]:
    """The conditions of an entry in force at `now`."""
    entry = models.list_entry
    return [entry.c.removed_at.is_(None), (entry.c.expires_at.is_(None)) | (entry.c.expires_at > now)]


async def load_deny(session: AsyncSession, now: datetime) -> Lists:
    """Every deny entry in force, as the scorer checks them."""
    entry = models.list_entry
    rows = (
        await session.execute(
            select(entry.c.list, entry.c.value, entry.c.reason).where(entry.c.kind == "deny", *active(now))
        )
    ).all()
    values: dict[str, set[str]] = {name: set() for name in LIST_NAMES}
    infected: set[str] = set()
    for row in rows:
        values.setdefault(row.list, set()).add(row.value)
        if row.list == "devices" and row.reason == INFECTED:
            infected.add(row.value)
    networks = []
    for value in values["ips"]:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            continue  # refused at entry; an old bad row must not stop scoring
    return Lists(
        ips=tuple(networks),
        devices=frozenset(values["devices"]),
        customers=frozenset(values["customers"]),
        bank_accounts=frozenset(values["bank_accounts"]),
        infected_devices=frozenset(infected),
    )


class UnknownList(Problem):
    status = 404
    code = "list_not_found"


class EntryNotFound(Problem):
    status = 404
    code = "list_entry_not_found"


# The longest value each list can match: the event columns the scorer compares it with.
_MAX_LENGTH = {"ips": 64, "devices": 200, "customers": 40, "bank_accounts": 64}


@dataclass(frozen=True)
class Entry:
    id: str
    list: str
    kind: str
    value: str
    note: str
    source: str
    created_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None
    removed_by: str | None
    reason: str | None = None  # "malware": a device believed infected (SEC-3)

    def in_force(self, now: datetime) -> bool:
        return self.removed_at is None and (self.expires_at is None or self.expires_at > now)


def check_list(name: str) -> str:
    if name not in LIST_NAMES:
        raise UnknownList(f"There is no list {name!r}; the lists are {', '.join(LIST_NAMES)}.")
    return name


def normalise(list_name: str, value: str) -> str:
    """The value as stored and matched: an IP or network as its CIDR (203.0.113.7/24 -> 203.0.113.0/24), a device
    as its digest (a key is digested, a digest kept)."""
    value = value.strip()
    if not value:
        raise invalid("value", "The value is empty.")
    if list_name == "ips":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise invalid("value", f"{value[:64]!r} is not an IP address or a network in CIDR notation.") from None
    if len(value) > _MAX_LENGTH[list_name]:
        raise invalid("value", f"A {list_name} value has at most {_MAX_LENGTH[list_name]} characters.")
    if list_name == "devices":
        return as_digest(value)
    return value


async def lock_value(session: AsyncSession, *, list_name: str, kind: str, value: str) -> None:
    """Serialise writers of one list value until the transaction ends: two of them (staff, or a rule's action)
    must not leave two entries in force. SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"list_entry:{list_name}:{kind}:{value}"}
        )


async def entries(session: AsyncSession, *, list_name: str, now: datetime, include_removed: bool) -> list[Entry]:
    """The entries of a list, newest first: those in force, or every one ever added."""
    entry = models.list_entry
    query = (
        select(entry)
        .where(entry.c.list == check_list(list_name))
        .order_by(entry.c.created_at.desc(), entry.c.id.desc())
    )
    if not include_removed:
        query = query.where(*active(now))
    return [entry_of(row) for row in (await session.execute(query)).all()]


async def add_entry(
    session: AsyncSession,
    *,
    list_name: str,
    kind: str,
    value: str,
    note: str,
    expires_at: datetime | None,
    source: str,
    now: datetime,
    reason: str | None = None,
) -> tuple[Entry, list[Entry]]:
    """Put `value` on the list; the entry in force with the same list, kind and value (if any) is marked removed
    by the same hand, so the history shows what the new one replaced. The new entry and those it replaced.
    `reason` "malware" only on a device's deny entry: the device is believed infected (SEC-3)."""
    value = normalise(check_list(list_name), value)
    if reason is not None and (list_name, kind) != ("devices", "deny"):
        raise invalid("reason", "Only a device's deny entry takes a reason (malware: the device is infected).")
    if expires_at is not None and expires_at <= now:
        raise invalid("expires_at", "expires_at must be in the future.")
    replaced = await _remove(session, list_name=list_name, kind=kind, value=value, by=source, now=now)
    added = Entry(
        id=new_id("lst"),
        list=list_name,
        kind=kind,
        value=value,
        note=note,
        source=source,
        created_at=now,
        expires_at=expires_at,
        removed_at=None,
        removed_by=None,
        reason=reason,
    )
    await session.execute(models.list_entry.insert().values(**asdict(added)))
    return added, replaced


async def remove_entry(
    session: AsyncSession, *, list_name: str, kind: str, value: str, by: str, now: datetime
) -> Entry:
    """Take `value` off the list: the entry in force is marked removed (kept, with who removed it)."""
    value = normalise(check_list(list_name), value)
    removed = await _remove(session, list_name=list_name, kind=kind, value=value, by=by, now=now)
    if not removed:
        raise EntryNotFound(f"{value!r} is not on the {kind} list of {list_name}.")
    return removed[0]


async def _remove(
    session: AsyncSession, *, list_name: str, kind: str, value: str, by: str, now: datetime
) -> list[Entry]:
    entry = models.list_entry
    await lock_value(session, list_name=list_name, kind=kind, value=value)
    rows = (
        await session.execute(
            update(entry)
            .where(entry.c.list == list_name, entry.c.kind == kind, entry.c.value == value, *active(now))
            .values(removed_at=now, removed_by=by)
            .returning(*entry.c)
        )
    ).all()
    return [entry_of(row) for row in rows]


def entry_of(row: Any) -> Entry:
    return Entry(**{name: getattr(row, name) for name in Entry.__dataclass_fields__})


def covers(cidr: str, addresses: Iterable[str]) -> bool:
    """Whether an ips entry (CIDR) holds any of `addresses`; a bad stored value or address holds nothing."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for value in addresses:
        try:
            if ipaddress.ip_address(value) in network:
                return True
        except ValueError:
            continue
    return False


# What may be shared with other companies, by list; the customers list never leaves (it names people).
INDICATOR_TYPES = {"ips": "ip", "devices": "device", "bank_accounts": "bank_account"}
_CHUNK = 500


@dataclass(frozen=True)
class Indicator:
    type: str  # ip | device | bank_account
    value: str
    first_seen: datetime
    source: str  # deny_list | case
    note: str


async def indicators(
    session: AsyncSession, *, kinds: frozenset[str], since: datetime | None, now: datetime
) -> list[Indicator]:
    """Indicators to share (INC-4): deny entries in force for IPs, devices and bank accounts (added since `since`),
    and the IPs and devices of cases resolved as fraud (resolved since `since`, first seen when opened); devices
    by digest, which the receiver matches by hashing the keys it has seen (device_digests.py).
    Never a customer id, and never a free-text case note, which may name one."""
    found: dict[tuple[str, str, str], Indicator] = {}
    entry = models.list_entry
    names = [name for name, kind in INDICATOR_TYPES.items() if kind in kinds]
    query = select(entry.c.list, entry.c.value, entry.c.created_at, entry.c.note).where(
        entry.c.kind == "deny", entry.c.list.in_(names), *active(now)
    )
    if since is not None:
        query = query.where(entry.c.created_at >= since)
    for row in (await session.execute(query)).all():
        _keep(found, Indicator(INDICATOR_TYPES[row.list], row.value, row.created_at, "deny_list", row.note))
    if kinds & {"ip", "device"}:
        for indicator in await _case_indicators(session, kinds=kinds, since=since):
            _keep(found, indicator)
    return sorted(found.values(), key=lambda i: (i.type, i.value, i.source))


def _keep(found: dict[tuple[str, str, str], Indicator], indicator: Indicator) -> None:
    key = (indicator.type, indicator.value, indicator.source)
    if key not in found or indicator.first_seen < found[key].first_seen:
        found[key] = indicator


async def _case_indicators(session: AsyncSession, *, kinds: frozenset[str], since: datetime | None) -> list[Indicator]:
    c = models.case
    query = select(c.c.opened_at, c.c.ip, c.c.device_id, c.c.score_id).where(
        c.c.status == "resolved", c.c.label == "fraud"
    )
    if since is not None:
        query = query.where(c.c.resolved_at >= since)
    cases = (await session.execute(query)).all()
    out: list[Indicator] = []
    if "ip" in kinds:
        for case in cases:
            address = _address(case.ip)
            if address is not None:
                out.append(Indicator("ip", address, case.opened_at, "case", "confirmed fraud"))
    if "device" in kinds:
        keys = await _device_keys(
            session, {c.device_id for c in cases if c.device_id}, {c.score_id for c in cases if c.score_id}
        )
        for case in cases:
            for key in keys.get(case.device_id, set()) | keys.get(case.score_id, set()):
                out.append(Indicator("device", device_digest(key), case.opened_at, "case", "confirmed fraud"))
    return out


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


async def _device_keys(session: AsyncSession, device_ids: set[str], score_ids: set[str]) -> dict[str, set[str]]:
    """The app's own device keys behind auth's device ids (from the events) and behind scores (as requested):
    the device key is what another company can recognise, auth's per-customer device id is not."""
    keys: dict[str, set[str]] = {}
    e, s = models.event, models.score
    for chunk in _chunks(device_ids):
        rows = await session.execute(
            select(e.c.device_id, e.c.device_key)
            .where(e.c.device_id.in_(chunk), e.c.device_key.is_not(None))
            .distinct()
        )
        for row in rows:
            keys.setdefault(row.device_id, set()).add(row.device_key)
    for chunk in _chunks(score_ids):
        for row in await session.execute(select(s.c.id, s.c.context).where(s.c.id.in_(chunk))):
            key = json.loads(row.context).get("device_key")
            if isinstance(key, str) and key:
                keys.setdefault(row.id, set()).add(key)
    return keys


def _chunks(values: Iterable[str]) -> list[Sequence[str]]:
    ordered = sorted(values)
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]
