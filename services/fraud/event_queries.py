"""Queries behind the staff's event search and trends (ops_api.py): matching an address or a network, and
grouping by hour or day the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import device_digests, models
from shared.problems import invalid

# A CIDR wider than 256 of the event's stored networks (/24, /56) is matched in Python over the newest events.
SCAN_CAP = 20_000


@dataclass(frozen=True)
class IpMatch:
    """How an `ip` filter is matched: exact addresses, stored networks (SQL), and a network checked in Python."""

    addresses: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    within: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        e = models.event
        found: list[ColumnElement[bool]] = [e.c.ip.in_(self.addresses)] if self.addresses else []
        if self.networks:
            found.append(e.c.network.in_(self.networks))
        if self.within is not None:
            found.append(e.c.ip.is_not(None))
        return found

    def holds(self, ip: str | None) -> bool:
        if self.within is None:
            return True
        try:
            return ip is not None and ipaddress.ip_address(ip) in self.within
        except ValueError:
            return False


def ip_match(value: str) -> IpMatch:
    """Match an address exactly; a network by the event's /24 (/56) column when it is one of them or spans a few
    (a /22 is four), narrowed in Python when it is smaller; a wider one in Python alone, over SCAN_CAP events."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return IpMatch(addresses=tuple(sorted({value, str(address)})))
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise invalid("ip", f"{value!r} is not an IP address or a network in CIDR notation.") from None
    if network.prefixlen == network.max_prefixlen:
        return IpMatch(addresses=(str(network.network_address),))
    stored = 24 if network.version == 4 else 56
    if network.prefixlen >= stored:
        narrower = network if network.prefixlen > stored else None
        return IpMatch(networks=(str(network.supernet(new_prefix=stored)),), within=narrower)
    if stored - network.prefixlen <= 8:
        return IpMatch(networks=tuple(str(n) for n in network.subnets(new_prefix=stored)))
    return IpMatch(within=network)


async def find_events(
    session: AsyncSession, where: list[ColumnElement[bool]], match: IpMatch, limit: int
) -> tuple[list[Any], bool]:
    e = models.event
    newest_first = (e.c.occurred_at.desc(), e.c.id.desc())
    if match.within is None:
        rows = (await session.execute(select(e).where(*where).order_by(*newest_first).limit(limit))).all()
        return list(rows), False
    scanned = (
        await session.execute(select(e.c.id, e.c.ip).where(*where).order_by(*newest_first).limit(SCAN_CAP))
    ).all()
    ids = [row.id for row in scanned if match.holds(row.ip)][:limit]
    rows = (await session.execute(select(e).where(e.c.id.in_(ids)).order_by(*newest_first))).all() if ids else []
    return list(rows), len(scanned) == SCAN_CAP and len(ids) < limit


def event_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "occurred_at": row.occurred_at.isoformat(),
        "producer": row.producer,
        "customer_id": row.customer_id,
        "device_id": row.device_id,
        # Never the key: with it and a password, a login skips the new-device check (device_digests.py).
        "device_digest": device_digests.shown(row.device_key),
        "ip": row.ip,
        "country": row.country,
        "asn": row.asn,
        "outcome": row.outcome,
        "channel": row.channel,
        "amount": row.amount,
        "data": device_digests.redacted(json.loads(row.data)),
    }


def bucket_text(session: AsyncSession, bucket: str) -> ColumnElement[str]:
    """The UTC hour ("2026-01-05 09") or day of `occurred_at` as text, the same on both databases: SQLite holds
    naive UTC ISO text ("2026-01-05 09:12:00.000000", shared/database.py), PostgreSQL a timestamptz."""
    # Literals, not bound parameters: PostgreSQL must see the grouped expression and the selected one as equal.
    occurred_at = models.event.c.occurred_at
    if session.get_bind().dialect.name == "postgresql":
        pattern = "'YYYY-MM-DD HH24'" if bucket == "hour" else "'YYYY-MM-DD'"
        return func.to_char(func.timezone(literal_column("'UTC'"), occurred_at), literal_column(pattern), type_=String)
    length = "13" if bucket == "hour" else "10"
    return func.substr(occurred_at, literal_column("1"), literal_column(length), type_=String)
