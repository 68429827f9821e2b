"""Devices believed infected (SEC-3; JFSA 2(3) ③): warn the customer, refuse access from the device, stop its logins.

A device is blocked by a deny entry on the devices list with the reason "malware": put there by staff
(`PUT /v1/ops/fraud/lists/devices/entries` with `"reason": "malware"`), or by fraud itself when the app reported the
device compromised at a login (auth's `device_compromised` event). From then on:
- every score of that device is a denial that the gateway answers with 403 `device_blocked` (rules.evaluate), so no
  login from it gets past the password step, for any customer;
- auth is asked (`block_device`, through the outbox) to end the sessions of every customer who used it, stop
  trusting it and warn each of them, once per device, by e-mail and SMS (`device_infected`).
Whom to ask about comes from fraud's own events: the customers and auth's device ids seen with the device's digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import lists, models
from services.fraud.device_digests import device_digest
from services.fraud.runtime import fraud_runtime
from shared.contracts.events import EventIn
from shared.contracts.fraud_actions import FraudActionRequest, fraud_actions_path
from shared.database import on_commit
from shared.service import ServiceState

MAX_CUSTOMERS = 200  # a phone shared by more is a mule farm: staff handle the rest by lock and session revocation
APP_REPORT = "device_compromised"  # auth's event when the app reported its device compromised at a login
APP_SOURCE = "app"


async def block_device(session: AsyncSession, state: ServiceState, entry: lists.Entry) -> list[str]:
    """Ask auth to refuse the logins from the device of `entry` (an infected deny entry) of every customer seen with
    it, until the entry expires, end their sessions on it and warn them; the customers asked about."""
    return await _ask(session, state, entry, "block_device")


async def unblock_device(session: AsyncSession, state: ServiceState, entry: lists.Entry) -> list[str]:
    """`entry` (an infected deny entry) was removed or replaced by one that is not: auth lifts its blocks."""
    return await _ask(session, state, entry, "unblock_device")


async def _ask(
    session: AsyncSession, state: ServiceState, entry: lists.Entry, action: Literal["block_device", "unblock_device"]
) -> list[str]:
    e = models.event
    rows = (
        await session.execute(
            select(e.c.customer_id, e.c.device_id)
            .where(e.c.device_digest == entry.value, e.c.customer_id.is_not(None))
            .distinct()
            .limit(MAX_CUSTOMERS * 4)
        )
    ).all()
    devices: dict[str, set[str]] = {}
    for row in rows:
        found = devices.setdefault(row.customer_id, set())
        if row.device_id:
            found.add(row.device_id)
    assert state.outbox is not None
    customers = sorted(devices)[:MAX_CUSTOMERS]
    for customer_id in customers:
        asking = FraudActionRequest(
            action=action,
            block_id=entry.id,
            device_digest=entry.value,
            device_ids=sorted(devices[customer_id])[:100] if action == "block_device" else None,
            until=entry.expires_at if action == "block_device" else None,
        )
        await state.outbox.enqueue(
            session,
            destination="auth",
            path=fraud_actions_path(customer_id),
            payload=asking.model_dump(mode="json", exclude_none=True),
            key=f"fraud:{action}:{entry.id}:{customer_id}",
            once=True,
        )
    return customers


async def block_reported_devices(
    session: AsyncSession, state: ServiceState, events: Sequence[EventIn], *, new: set[str], now: datetime
) -> None:
    """auth's reports of devices the app found compromised, stored just now: each device not blocked yet is put on
    the deny list as infected (source "app") and blocked for every customer on it."""
    keys = {
        str(event.data["device_key"])[:200]
        for event in events
        if event.event_id in new and event.type == APP_REPORT and event.data.get("device_key")
    }
    blocked = False
    for key in sorted(keys):
        digest = device_digest(key)
        if digest in await _infected_in_force(session, digest, now=now):
            continue
        entry, _ = await lists.add_entry(
            session,
            list_name="devices",
            kind="deny",
            value=digest,
            note="the app reported the device compromised at a login",
            expires_at=None,
            source=APP_SOURCE,
            now=now,
            reason=lists.INFECTED,
        )
        await block_device(session, state, entry)
        blocked = True
    if blocked:
        forget_lists(session, state)


async def _infected_in_force(session: AsyncSession, digest: str, *, now: datetime) -> set[str]:
    entry = models.list_entry
    await lists.lock_value(session, list_name="devices", kind="deny", value=digest)
    rows = await session.execute(
        select(entry.c.value).where(
            entry.c.list == "devices",
            entry.c.kind == "deny",
            entry.c.value == digest,
            entry.c.reason == lists.INFECTED,
            *lists.active(now),
        )
    )
    return {row.value for row in rows}


def forget_lists(session: AsyncSession, state: ServiceState) -> None:
    # After the commit, not before: a score in between would cache the old lists for another second.
    on_commit(session, fraud_runtime(state).scorer.lists.forget)
