"""The staff audit trail (SEC-6), kept by auth for every service: stored append-only, searched by admins.

auth's own staff routes record straight into the table, in the transaction of the action or read;
other services' entries arrive through their outboxes (shared/audit.py) and are stored once per id. Every entry
is appended to one hash chain (audit_chain.py), appends taking turns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import audit_chain, models
from shared.audit import Actor, audit_entry, customers_in
from shared.contracts.audit import AuditEntryIn
from shared.problems import Problem


async def store(session: AsyncSession, entries: Sequence[AuditEntryIn], *, now: datetime, key: bytes) -> set[str]:
    """Store the entries not stored yet, chained with `key`; the ids of those that are new."""
    if not entries:
        return set()
    rows = [
        {
            "id": entry.entry_id,
            "at": entry.at,
            "received_at": now,
            "service": entry.service,
            "actor_id": entry.actor_id,
            "actor_role": entry.actor_role,
            "session_id": entry.session_id,
            "ip": entry.ip,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "detail": json.dumps(entry.detail, ensure_ascii=False, sort_keys=True),
            "outsourced": entry.outsourced,
        }
        for entry in {entry.entry_id: entry for entry in entries}.values()
    ]
    # Under the lock no other append runs, so the ids seen stored now stay the only ones: a redelivery is skipped
    # before it takes a position in the chain.
    head = await audit_chain.lock_head(session)
    a = models.audit_entry
    stored = set((await session.execute(select(a.c.id).where(a.c.id.in_([row["id"] for row in rows])))).scalars())
    linked = audit_chain.link(key, head, [row for row in rows if row["id"] not in stored])
    if linked:
        await session.execute(a.insert(), linked)
        named = [
            {"entry_id": row["id"], "customer_id": customer_id}
            for row in linked
            for customer_id in customers_named(row["target_id"], json.loads(row["detail"]))
        ]
        if named:
            await session.execute(models.audit_customer.insert(), named)
    return {row["id"] for row in linked}


def customers_named(target_id: str, detail: Any) -> set[str]:
    """The customers an entry is about: its target, and every customer id in its detail (results, filters)."""
    return set(customers_in([target_id, detail]))


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: str,
    now: datetime,
    key: bytes,
    detail: dict[str, Any] | None = None,
) -> None:
    """auth's own staff action or read, recorded in the caller's transaction: no entry, no action."""
    entry = audit_entry(
        actor, service="auth", action=action, target_type=target_type, target_id=target_id, at=now, detail=detail
    )
    await store(session, [AuditEntryIn.model_validate(entry)], now=now, key=key)


@dataclass(frozen=True)
class Filters:
    """What `GET /v1/ops/audit` narrows the trail by; None: any."""

    actor_id: str | None = None
    customer_id: str | None = None
    target_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outsourced: bool | None = None


def cursor_after(entry: dict[str, Any]) -> str:
    """The opaque cursor of the page after `entry` (the last of a page)."""
    return base64.urlsafe_b64encode(f"{entry['at']}|{entry['entry_id']}".encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, str]:
    try:
        at, entry_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        position = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem("The cursor is not one this trail gave.", code="cursor_invalid", status=422) from exc
    if position.tzinfo is None:
        raise Problem("The cursor is not one this trail gave.", code="cursor_invalid", status=422)
    return position, entry_id


async def search(
    session: AsyncSession, filters: Filters, *, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Entries newest first (by when they happened), filtered; and the cursor of the next page, None at the end."""
    a = models.audit_entry
    query = select(a).order_by(a.c.at.desc(), a.c.id.desc()).limit(limit + 1)
    if filters.actor_id is not None:
        query = query.where(a.c.actor_id == filters.actor_id)
    if filters.customer_id is not None:
        named = select(models.audit_customer.c.entry_id).where(
            models.audit_customer.c.customer_id == filters.customer_id
        )
        query = query.where(or_(a.c.target_id == filters.customer_id, a.c.id.in_(named)))
    if filters.target_id is not None:
        query = query.where(a.c.target_id == filters.target_id)
    if filters.action is not None:
        query = query.where(a.c.action == filters.action)
    if filters.since is not None:
        query = query.where(a.c.at >= filters.since)
    if filters.until is not None:
        query = query.where(a.c.at < filters.until)
    if filters.outsourced is not None:
        query = query.where(a.c.outsourced.is_(filters.outsourced))
    if cursor is not None:
        at, entry_id = _position(cursor)
        query = query.where(or_(a.c.at < at, and_(a.c.at == at, a.c.id < entry_id)))
    rows = (await session.execute(query)).all()
    entries = [
        {
            "entry_id": row.id,
            "seq": row.seq,
            "at": row.at.isoformat(),
            "service": row.service,
            "actor_id": row.actor_id,
            "actor_role": row.actor_role,
            "outsourced": bool(row.outsourced),
            "session_id": row.session_id,
            "ip": row.ip,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "detail": json.loads(row.detail),
        }
        for row in rows[:limit]
    ]
    return entries, cursor_after(entries[-1]) if len(rows) > limit else None
