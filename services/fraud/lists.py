"""Deny and allow lists (RESP-3, SEC-4): IPs and networks (CIDR), devices, customers, bank accounts.

Entries expire or are removed, never deleted: who added and who removed what stays visible.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.rules import Lists

LIST_NAMES = ("ips", "devices", "customers", "bank_accounts")


def active(now: datetime) -> list[ColumnElement[bool]]:
    """The conditions of an entry in force at `now`."""
    entry = models.list_entry
    return [entry.c.removed_at.is_(None), (entry.c.expires_at.is_(None)) | (entry.c.expires_at > now)]


async def load_deny(session: AsyncSession, now: datetime) -> Lists:
    """Every deny entry in force, as the scorer checks them."""
    entry = models.list_entry
    rows = (
        await session.execute(select(entry.c.list, entry.c.value).where(entry.c.kind == "deny", *active(now)))
    ).all()
    values: dict[str, set[str]] = {name: set() for name in LIST_NAMES}
    for row in rows:
        values.setdefault(row.list, set()).add(row.value)
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
    )
