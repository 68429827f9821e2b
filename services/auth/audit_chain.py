"""The audit trail's hash chain (SEC-6): each entry's chain value is an HMAC over the previous one and the entry.

Entry n (its `seq`, gap-free from 1) has chain = HMAC-SHA256(key, chain(n-1) || canonical(entry n)), chain(0) being
GENESIS. Someone who can write the table but does not hold the key (SEKISHO_AUDIT_CHAIN_KEY, kept apart from the
database) cannot change, remove or reorder an entry without `verify` naming the first position that no longer follows.
The sequence number is not in the canonical encoding: the order is bound by the chain itself, which is what lets
`verify` tell a reordered entry (chained after another one) from a changed one.

Removing the newest entries (the tail) leaves a shorter chain that still verifies; that needs the head kept outside
the database (a copy of the last chain value), which this module does not do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models

GENESIS = "0" * 64

# The columns an entry's chain value covers, in this order (every column but seq and chain).
CHAINED = (
    "id",
    "at",
    "received_at",
    "service",
    "actor_id",
    "actor_role",
    "session_id",
    "ip",
    "action",
    "target_type",
    "target_id",
    "detail",
    "outsourced",
)

# One lock for the whole trail, named after auth's schema (one database may hold several deployments' schemas):
# appends take it for the rest of their transaction on PostgreSQL; SQLite has one writer at a time anyway (BEGIN
# IMMEDIATE, shared/database.py).
_APPEND_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sekisho-audit-chain:' || current_schema()))"


def canonical(row: Any) -> bytes:
    """An entry's columns as one unambiguous byte string (JSON, times in UTC ISO 8601)."""
    values: dict[str, Any] = {}
    for name in CHAINED:
        value = row[name] if isinstance(row, dict) else getattr(row, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif name == "outsourced":
            value = bool(value)
        values[name] = value
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def chain_value(key: bytes, previous: str, row: Any) -> str:
    return hmac.new(key, previous.encode("ascii") + b"\n" + canonical(row), hashlib.sha256).hexdigest()


async def lock_head(session: AsyncSession) -> tuple[int, str]:
    """Serialize appends for the rest of the transaction; the last (seq, chain) stored, (0, GENESIS) when empty."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(_APPEND_LOCK))
    a = models.audit_entry
    last = (await session.execute(select(a.c.seq, a.c.chain).order_by(a.c.seq.desc()).limit(1))).first()
    return (0, GENESIS) if last is None else (int(last.seq), str(last.chain))


def link(key: bytes, head: tuple[int, str], rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with their seq and chain, following `head`."""
    seq, previous = head
    linked = []
    for row in rows:
        seq += 1
        previous = chain_value(key, previous, row)
        linked.append({**row, "seq": seq, "chain": previous})
    return linked


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: `count` entries in order, or the first position that breaks the chain and why."""

    count: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


async def _rows(session: AsyncSession, batch: int = 1000) -> AsyncIterator[Any]:
    a = models.audit_entry
    after = 0
    while True:
        rows = (await session.execute(select(a).where(a.c.seq > after).order_by(a.c.seq).limit(batch))).all()
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = int(rows[-1].seq)


async def verify(session: AsyncSession, key: bytes) -> Verdict:
    """Walk the chain from the first entry; stop at the first one that does not follow from the one before."""
    expected_seq, previous, count = 1, GENESIS, 0
    async for row in _rows(session):
        if row.seq != expected_seq:
            missing = f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}..{row.seq - 1}"
            return Verdict(count, expected_seq, f"entry {missing} is missing (removed): the next stored is {row.seq}")
        if not hmac.compare_digest(chain_value(key, previous, row), row.chain):
            return Verdict(count, row.seq, await _why(session, key, row))
        expected_seq, previous, count = expected_seq + 1, row.chain, count + 1
    return Verdict(count)


async def _why(session: AsyncSession, key: bytes, row: Any) -> str:
    """Reordered (the entry's chain value follows from another entry than the one now before it) or changed."""
    candidates = [GENESIS]
    async for other in _rows(session):
        if other.seq != row.seq:
            candidates.append(other.chain)
    for previous in candidates:
        if hmac.compare_digest(chain_value(key, previous, row), row.chain):
            after = "the start" if previous == GENESIS else await _seq_of(session, previous)
            return f"entry {row.id} was reordered: it was chained after {after}, not after entry {row.seq - 1}"
    return f"entry {row.id} was changed, or an entry before it removed: its chain value does not match its content"


async def _seq_of(session: AsyncSession, chain: str) -> str:
    a = models.audit_entry
    seq = (await session.execute(select(a.c.seq).where(a.c.chain == chain))).scalar_one()
    return f"entry {seq}"
