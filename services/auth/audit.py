"""The staff audit trail (SEC-6), kept by auth for every service: stored append-only, searched by admins.

auth's own staff routes record straight into the table, in the transaction of the action or read;
other services' entries arrive through their outboxes (shared/audit.py) and are stored once per id. Every entry
is appended to one hash chain (audit_chain.py), appends taking turns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import audit_chain, models
from shared.audit import Actor, audit_entry
from shared.contracts.audit import AuditEntryIn


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
    return {row["id"] for row in linked}


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


async def search(
    session: AsyncSession,
    *,
    actor_id: str | None,
    target_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Entries newest first, filtered by who, about whom, what and when."""
    a = models.audit_entry
    query = select(a).order_by(a.c.at.desc(), a.c.id.desc()).limit(limit)
    if actor_id is not None:
        query = query.where(a.c.actor_id == actor_id)
    if target_id is not None:
        query = query.where(a.c.target_id == target_id)
    if action is not None:
        query = query.where(a.c.action == action)
    if since is not None:
        query = query.where(a.c.at >= since)
    if until is not None:
        query = query.where(a.c.at < until)
    return [
        {
            "entry_id": row.id,
            "at": row.at.isoformat(),
            "service": row.service,
            "actor_id": row.actor_id,
            "actor_role": row.actor_role,
            "session_id": row.session_id,
            "ip": row.ip,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "detail": json.loads(row.detail),
        }
        for row in (await session.execute(query)).all()
    ]
