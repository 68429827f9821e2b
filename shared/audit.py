"""The audit trail of staff (SEC-6): every staff action and every read of customer data, with who, what, when.

auth keeps the trail, append-only. A service records an entry in the same transaction as the action or
the read it describes: auth stores its own entries directly (services/auth/audit.py); every other
service sends them through its outbox, so that an entry leaves only if the action happened and always
arrives, once per entry id, however long auth is unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.audit import AuditEntryIn
from shared.identity import ServiceIdentity
from shared.ids import is_id, new_id
from shared.outbox import Outbox

if TYPE_CHECKING:
    from shared.service import ServiceState

AUDIT_PATH = "/internal/audit"
AUDIT_BATCH_PATH = "/internal/audit/batch"


@dataclass(frozen=True)
class Actor:
    """The staff member acting, as the gateway vouched for them."""

    staff_id: str
    role: str
    session_id: str
    ip: str
    outsourced: bool = False  # an outsourced operator (DATA-4): their entries are marked

    @classmethod
    def of(cls, identity: ServiceIdentity) -> Actor:
        context = identity.context
        return cls(
            staff_id=str(context.get("subject", "")),
            role=str(context.get("role", "")),
            session_id=str(context.get("session_id", "")),
            ip=str(context.get("client_ip", "unknown")),
            outsourced=context.get("outsourced") is True,
        )


def customers_in(shown: Any) -> list[str]:
    """Every customer id in what a staff read returned (its JSON form): the customers an entry must name when the
    answer can carry them anywhere (a timeline's data, a case's linked entities)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if is_id(value, "cus"):
                found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(shown)
    return sorted(found)


def audit_entry(
    actor: Actor,
    *,
    service: str,
    action: str,
    target_type: str,
    target_id: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry as auth's /internal/audit takes it. `action` is dotted ("customer.view"); `detail` names what
    was read or changed (customer ids, filters), never the personal data itself. Validated where auth stores
    it (services/auth/audit.py), not here: an entry auth refuses is kept for staff (shared/outbox.py)."""
    entry = AuditEntryIn.model_construct(
        entry_id=new_id("aud"),
        at=at,
        service=service,
        actor_id=actor.staff_id,
        actor_role=actor.role,
        session_id=actor.session_id,
        ip=actor.ip,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
        outsourced=actor.outsourced,
    )
    return entry.model_dump(mode="json")


async def record_audit(outbox: Outbox, session: AsyncSession, entry: dict[str, Any]) -> None:
    """Send `entry` (from audit_entry) to auth with this transaction: only if it commits, and then surely."""
    await outbox.enqueue(
        session, destination="auth", path=AUDIT_PATH, payload=entry, key=entry["entry_id"], urgent=False
    )


async def audit_staff(
    session: AsyncSession,
    state: ServiceState,
    who: ServiceIdentity | Actor,
    *,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """What a staff member (`who`: as the gateway vouched for them, or as the gateway itself authenticated them)
    did or read in this service (not auth), recorded with `session`."""
    assert state.outbox is not None, f"{state.name} needs an outbox to record staff actions"
    entry = audit_entry(
        who if isinstance(who, Actor) else Actor.of(who),
        service=state.name,
        action=action,
        target_type=target_type,
        target_id=target_id[:80],  # the trail's limit; put the whole value in the detail when it matters
        at=state.clock.now(),
        detail=detail,
    )
    await record_audit(state.outbox, session, entry)
