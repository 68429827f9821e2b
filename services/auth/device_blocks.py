"""A device believed infected (SEC-3): its sessions end, it is trusted no more, and its owner is warned once.

Two ways in: fraud asks (`block_device`, fraud_actions_api.py) when staff deny-list a device as infected, or the app
reports its own device compromised at a login (`device_integrity: "compromised"` in the login body, after the right
password only: a stranger cannot make the company warn a customer). The login is then refused (403
`device_blocked`) and fraud is told (`device_compromised`), which deny-lists the device so that its later logins
are refused at the gateway whatever the app says. The warning goes by e-mail and SMS (notify's sms_events), once per
customer and device however often either way repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import accounts, models
from shared.contracts.fraud_actions import device_digest_of
from shared.contracts.notifications import DeviceInfectedData, EventType
from shared.crypto import FieldCipher
from shared.database import UtcDateTime
from shared.events import record_event
from shared.ids import new_id
from shared.notifications import send_notification
from shared.outbox import Outbox
from shared.problems import Problem

REPORTED_EVENT = "device_compromised"


class DeviceBlocked(Problem):
    status = 403
    code = "device_blocked"


def refused() -> DeviceBlocked:
    return DeviceBlocked(
        "This device may be infected with malware, so it cannot be used to sign in. Please follow the notice we sent "
        "you, or call our support desk."
    )


@dataclass(frozen=True)
class BlockedDevice:
    device_ids: list[str]  # the customer's device rows of that phone
    label: str  # as its app named itself, for the notice
    ended_sessions: list[str]


async def block_device(
    session: AsyncSession,
    customer_id: str,
    *,
    digest: str,
    device_ids: list[str],
    source: Literal["staff", "app"],
    ref: str,
    until: datetime | None,
    now: datetime,
) -> BlockedDevice:
    """Refuse the customer's logins from the device from now on (until `until`, or for good), end their sessions on
    it (their rows named by id, or whose key has `digest`) and stop trusting it: its next login, if the block is
    ever lifted, needs the second factor again."""
    await _record_block(session, customer_id, digest=digest, source=source, ref=ref, until=until, now=now)
    d = models.device
    rows = (
        await session.execute(
            select(d.c.id, d.c.device_key, d.c.user_agent, d.c.last_seen_at).where(d.c.customer_id == customer_id)
        )
    ).all()
    matched = sorted(
        (row for row in rows if row.id in device_ids or device_digest_of(row.device_key) == digest),
        key=lambda row: row.last_seen_at,
        reverse=True,
    )
    ids = [row.id for row in matched]
    if not ids:
        return BlockedDevice([], "unknown", [])
    await session.execute(d.update().where(d.c.id.in_(ids)).values(trusted_at=None))
    s = models.auth_session
    ended = (
        await session.execute(
            s.update()
            .where(s.c.customer_id == customer_id, s.c.device_id.in_(ids), s.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="device_blocked")
            .returning(s.c.id)
        )
    ).scalars()
    return BlockedDevice(ids, matched[0].user_agent[:200] or "unknown", sorted(str(i) for i in ended))


async def _record_block(
    session: AsyncSession,
    customer_id: str,
    *,
    digest: str,
    source: str,
    ref: str,
    until: datetime | None,
    now: datetime,
) -> None:
    """One block standing per customer and device: a new one replaces the one in force (lifted by it)."""
    await lift_blocks(session, customer_id, digest=digest, now=now)
    await session.execute(
        models.device_block.insert().values(
            id=new_id("dbl"),
            customer_id=customer_id,
            device_digest=digest,
            source=source,
            ref=ref[:60],
            blocked_at=now,
            until=until,
            lifted_at=None,
        )
    )


async def lift_blocks(session: AsyncSession, customer_id: str, *, digest: str, now: datetime) -> int:
    b = models.device_block
    lifted = await session.execute(
        b.update()
        .where(b.c.customer_id == customer_id, b.c.device_digest == digest, b.c.lifted_at.is_(None))
        .values(lifted_at=now)
    )
    return int(lifted.rowcount)  # type: ignore[attr-defined]


async def is_blocked(session: AsyncSession, customer_id: str, *, device_key: str, now: datetime) -> bool:
    """Whether a block of this customer and device stands (the passkey login; the password login reads
    `blocked_column` in its one statement)."""
    b = models.device_block
    found = await session.execute(
        select(b.c.id)
        .where(
            b.c.customer_id == customer_id,
            b.c.device_digest == device_digest_of(device_key),
            b.c.lifted_at.is_(None),
            or_(b.c.until.is_(None), b.c.until > now),
        )
        .limit(1)
    )
    return found.first() is not None


def blocked_column(customer: Any) -> Any:
    """For the login's one statement (login._account_facts_query): whether a block of this customer and the
    login's device (bind parameters `device_digest`, `block_now`) stands."""
    b = models.device_block
    return (
        exists()
        .where(
            b.c.customer_id == customer.c.id,
            b.c.device_digest == bindparam("device_digest"),
            b.c.lifted_at.is_(None),
            or_(b.c.until.is_(None), b.c.until > bindparam("block_now", type_=UtcDateTime)),
        )
        .correlate(customer)
        .label("device_blocked")
    )


async def warn_customer(
    session: AsyncSession,
    outbox: Outbox,
    customer_row: Any,
    cipher: FieldCipher,
    *,
    digest: str,
    blocked: BlockedDevice,
    source: Literal["staff", "app"],
    now: datetime,
) -> None:
    contact = accounts.contact_of(customer_row, cipher)
    await send_notification(
        outbox,
        session,
        key=f"auth:device-infected:{customer_row.id}:{digest}",
        event_type=EventType.DEVICE_INFECTED,
        customer_id=customer_row.id,
        language=contact.language,
        email=contact.email,
        phone=contact.phone,
        data=DeviceInfectedData.model_construct(
            at=now, device=blocked.label, source=source, sessions_ended=len(blocked.ended_sessions)
        ),
        once=True,
    )


async def refuse_reported_device(
    session: AsyncSession,
    outbox: Outbox,
    cipher: FieldCipher,
    customer_row: Any,
    *,
    device_key: str,
    ip: str,
    now: datetime,
) -> None:
    """The app reported its device compromised and the password was right: block it, warn, tell fraud. The caller
    commits and then refuses the login (`refused()`)."""
    digest = device_digest_of(device_key)
    blocked = await block_device(
        session, customer_row.id, digest=digest, device_ids=[], source="app", ref="app", until=None, now=now
    )
    await warn_customer(session, outbox, customer_row, cipher, digest=digest, blocked=blocked, source="app", now=now)
    await record_event(
        outbox,
        session,
        type=REPORTED_EVENT,
        occurred_at=now,
        customer_id=customer_row.id,
        device_id=blocked.device_ids[0] if blocked.device_ids else None,
        ip=ip,
        outcome="refused",
        data={"device_key": device_key, "sessions_ended": len(blocked.ended_sessions)},
    )
