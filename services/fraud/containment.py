"""Bulk containment of an incident (INC-1): lock the customers it touched and end their sessions, at once.

Staff name customers, an IP or network, or a device; fraud adds every customer whose events in its own store used
that IP (network) or device since a time, records them on the incident, and asks auth to lock them (a lock ends
every session) or only to end their sessions. auth applies each action once per incident and customer, and fraud
asks only for the customers not yet confirmed, so the same containment sent again changes nothing; a customer auth
could not act on is kept as failed, with the reason, and the next containment of the incident asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import device_digests, event_queries, incidents, models
from services.fraud.clients import AuthClient
from shared.contracts.fraud_actions import INCIDENT_ACTIONS_BATCH, IncidentAction, IncidentActionRequest
from shared.ids import is_id
from shared.problems import Problem

MAX_CUSTOMERS = 10_000  # per containment: a wider one is more likely a mistaken network than an incident
FAILED_SHOWN = 100  # failed customers named in the timeline entry (all of them are on the incident)


class TooManyCustomers(Problem):
    status = 422
    code = "too_many_customers"


@dataclass(frozen=True)
class Scope:
    customer_ids: tuple[str, ...]
    ip: str | None
    device: str | None
    since: datetime
    lock: bool
    revoke_sessions: bool
    invalidate_password: bool = False  # the passwords used are taken as stolen: only a new one signs in (auth)

    def described(self) -> dict[str, Any]:
        """The scope as the timeline and the trail keep it: a device by digest, never its key."""
        return {
            "customers_listed": len(self.customer_ids),
            "ip": self.ip,
            "device": device_digests.searched(self.device) if self.device else None,
            "since": self.since.isoformat(),
            "lock": self.lock,
            "revoke_sessions": self.revoke_sessions,
            "invalidate_password": self.invalidate_password,
        }


@dataclass
class Outcome:
    affected: int = 0  # the customers this containment covers
    added: int = 0  # of them, newly recorded on the incident
    asked: int = 0  # of them, asked of auth (not confirmed before)
    contained: list[str] = field(default_factory=list)
    already: int = 0  # asked, and auth had already done it (a repeat after a lost answer)
    failed: dict[str, str] = field(default_factory=dict)  # customer → why
    passwords_invalidated: int = 0  # customers whose password auth confirmed invalid (now or before)


async def affected_customers(session: AsyncSession, scope: Scope) -> dict[str, str]:
    """Each customer the scope covers, with how it was found (list | ip | device); TooManyCustomers past the cap."""
    found: dict[str, str] = dict.fromkeys(scope.customer_ids, "list")
    e = models.event
    recent = [e.c.customer_id.is_not(None), e.c.occurred_at >= scope.since]
    if scope.ip is not None:
        match = event_queries.ip_match(scope.ip)
        query = select(e.c.customer_id, e.c.ip).where(*recent, *match.conditions()).distinct()
        rows = (await session.execute(query.limit(event_queries.SCAN_CAP + 1))).all()
        if len(rows) > event_queries.SCAN_CAP:
            raise TooManyCustomers(f"{scope.ip} matches too many events since {scope.since}: name a narrower network.")
        for row in rows:
            if match.holds(row.ip):
                found.setdefault(row.customer_id, "ip")
    if scope.device is not None:
        by_device = (
            e.c.device_id == scope.device
            if is_id(scope.device, "dev")
            else e.c.device_digest == device_digests.as_digest(scope.device)
        )
        by_device_query = select(e.c.customer_id).where(*recent, by_device).distinct().limit(MAX_CUSTOMERS + 1)
        for (customer_id,) in (await session.execute(by_device_query)).all():
            found.setdefault(customer_id, "device")
    if len(found) > MAX_CUSTOMERS:
        raise TooManyCustomers(
            f"This containment covers {len(found)} customers; at most {MAX_CUSTOMERS} at a time.",
            customers=len(found),
            limit=MAX_CUSTOMERS,
        )
    return found


async def contain(
    session: AsyncSession, auth: AuthClient, incident_id: str, scope: Scope, *, staff_id: str, now: datetime
) -> Outcome:
    incident = await incidents.get_incident(session, incident_id, for_update=True)
    if incident.status == "closed":
        raise incidents.StatusConflict("A closed incident cannot be contained again.", code="incident_closed")
    found = await affected_customers(session, scope)
    outcome = Outcome(affected=len(found))
    if not found:
        return outcome
    c = models.incident_customer
    known = {
        row.customer_id: row
        for row in (await session.execute(select(c).where(c.c.incident_id == incident_id))).all()
        if row.customer_id in found
    }
    new = [customer for customer in found if customer not in known]
    if new:
        await session.execute(
            c.insert(),
            [
                {
                    "incident_id": incident_id,
                    "customer_id": customer,
                    "source": found[customer],
                    "added_at": now,
                    "added_by": staff_id,
                    "status": "pending",
                }
                for customer in new
            ],
        )
    outcome.added = len(new)
    action: IncidentAction = "lock" if scope.lock else "revoke_sessions"
    targets = [
        customer
        for customer in found
        if customer not in known
        or (known[customer].locked_at is None if scope.lock else known[customer].status != "contained")
    ]
    outcome.asked = len(targets)
    await _ask_auth(auth, incident_id, action, targets, outcome)
    if scope.invalidate_password:
        # Asked for every customer covered, each time: auth does it once per incident and customer and says
        # "already" after, so a containment sent again retries only what failed.
        passwords = Outcome()
        await _ask_auth(auth, incident_id, "invalidate_password", list(found), passwords)
        outcome.passwords_invalidated = len(passwords.contained)
        for customer, reason in passwords.failed.items():
            outcome.failed.setdefault(customer, f"password: {reason}")
    await _record(session, incident_id, outcome, lock=scope.lock, now=now)
    if outcome.added or outcome.asked:
        await incidents.append_entry(
            session,
            incident_id,
            kind="action",
            text=_summary(outcome, action, invalidate_password=scope.invalidate_password),
            at=now,
            staff_id=staff_id,
            now=now,
            data={
                "containment": scope.described(),
                "affected": outcome.affected,
                "added": outcome.added,
                "asked": outcome.asked,
                "contained": len(outcome.contained),
                "already": outcome.already,
                "passwords_invalidated": outcome.passwords_invalidated,
                "failed": len(outcome.failed),
                "failed_customers": sorted(outcome.failed)[:FAILED_SHOWN],
            },
        )
    return outcome


async def _ask_auth(
    auth: AuthClient, incident_id: str, action: IncidentAction, targets: list[str], outcome: Outcome
) -> None:
    for start in range(0, len(targets), INCIDENT_ACTIONS_BATCH):
        batch = targets[start : start + INCIDENT_ACTIONS_BATCH]
        try:
            answer = await auth.incident_actions(
                IncidentActionRequest(incident_id=incident_id, action=action, customer_ids=batch)
            )
        except Problem as exc:  # auth unreachable, timed out, or answered nonsense: every customer left failed
            for customer in targets[start:]:
                outcome.failed[customer] = f"auth: {exc.code}"
            return
        asked = set(batch)
        for result in answer.results:
            if result.customer_id not in asked:
                continue
            asked.discard(result.customer_id)
            if result.done:
                outcome.contained.append(result.customer_id)
                outcome.already += result.already
            else:
                outcome.failed[result.customer_id] = result.reason or "not done"
        for customer in asked:  # auth's answer left them out
            outcome.failed[customer] = "no answer for this customer"


async def _record(session: AsyncSession, incident_id: str, outcome: Outcome, *, lock: bool, now: datetime) -> None:
    c = models.incident_customer
    mine = c.c.incident_id == incident_id
    for start in range(0, len(outcome.contained), INCIDENT_ACTIONS_BATCH):
        batch = outcome.contained[start : start + INCIDENT_ACTIONS_BATCH]
        values: dict[str, Any] = {"status": "contained", "failure": None}
        if lock:
            values["locked_at"] = now
        await session.execute(c.update().where(mine, c.c.customer_id.in_(batch)).values(**values))
        await session.execute(
            c.update().where(mine, c.c.customer_id.in_(batch), c.c.contained_at.is_(None)).values(contained_at=now)
        )
    by_reason: dict[str, list[str]] = {}
    for customer, reason in outcome.failed.items():
        by_reason.setdefault(reason, []).append(customer)
    for reason, customers in by_reason.items():
        for start in range(0, len(customers), INCIDENT_ACTIONS_BATCH):
            batch = customers[start : start + INCIDENT_ACTIONS_BATCH]
            # A customer contained before stays contained: this failure was a later, stronger action's.
            await session.execute(
                c.update()
                .where(mine, c.c.customer_id.in_(batch), c.c.status != "contained")
                .values(status="failed", failure=reason[:300])
            )


def _summary(outcome: Outcome, action: str, *, invalidate_password: bool) -> str:
    what = "ロック（全セッション終了）" if action == "lock" else "全セッション終了"
    return (
        f"一括封じ込め（{what}）: 対象顧客 {outcome.affected} 名（新規 {outcome.added} 名）、"
        f"依頼 {outcome.asked} 名、完了 {len(outcome.contained)} 名（うち実施済み {outcome.already} 名）、"
        + (f"パスワード無効化 {outcome.passwords_invalidated} 名、" if invalidate_password else "")
        + f"失敗 {len(outcome.failed)} 名"
    )


def failed_view(outcome: Outcome) -> list[dict[str, str]]:
    return [{"customer_id": customer, "reason": reason} for customer, reason in sorted(outcome.failed.items())]


async def affected_list(
    session: AsyncSession, incident_id: str, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The incident's customers by id, a page at a time (the cursor is the last id of the previous page)."""
    c = models.incident_customer
    query = select(c).where(c.c.incident_id == incident_id).order_by(c.c.customer_id).limit(limit + 1)
    if status is not None:
        query = query.where(c.c.status == status)
    if cursor is not None:
        query = query.where(c.c.customer_id > cursor)
    rows = (await session.execute(query)).all()
    shown = [
        {
            "customer_id": row.customer_id,
            "source": row.source,
            "status": row.status,
            "failure": row.failure,
            "added_at": row.added_at.isoformat(),
            "contained_at": row.contained_at.isoformat() if row.contained_at else None,
            "locked_at": row.locked_at.isoformat() if row.locked_at else None,
        }
        for row in rows[:limit]
    ]
    return shown, (shown[-1]["customer_id"] if len(rows) > limit else None)
