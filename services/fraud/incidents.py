"""Incidents (INC-1..3, INC-8): opened by staff, moved open → contained → resolved → closed, with a timeline.

The timeline is append-only: nothing in it is ever edited or deleted. A correction is a new entry that names the
entry it corrects, so what was believed at the time stays readable next to what was learned later. Every status
change is an entry too, with its reason; going back (reopening) must be asked for explicitly, and a closed
incident stays closed (a new incident refers to it instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from shared.ids import new_id
from shared.problems import Problem, invalid

IncidentKind = Literal["unauthorized_access", "account_takeover", "data_leak", "bank_link_abuse", "other"]
Status = Literal["open", "contained", "resolved", "closed"]
EntryKind = Literal["fact", "decision", "notice", "action"]
STATUSES: tuple[Status, ...] = get_args(Status)
KIND_NAMES_JA: dict[str, str] = {
    "unauthorized_access": "不正アクセス",
    "account_takeover": "アカウント乗っ取り",
    "data_leak": "情報漏えい",
    "bank_link_abuse": "銀行口座連携の不正利用",
    "other": "その他",
}


class IncidentNotFound(Problem):
    status = 404
    code = "incident_not_found"


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    kind: str
    summary: str
    status: str
    detected_at: datetime
    occurred_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Entry:
    id: str
    seq: int
    kind: str
    text: str
    at: datetime
    recorded_at: datetime
    recorded_by: str
    corrects: str | None
    data: dict[str, Any]


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        title=row.title,
        kind=row.kind,
        summary=row.summary,
        status=row.status,
        detected_at=row.detected_at,
        occurred_at=row.occurred_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        seq=row.seq,
        kind=row.kind,
        text=row.text,
        at=row.at,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
        corrects=row.corrects,
        data=json.loads(row.data),
    )


def _check_times(now: datetime, **times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and value > now:
            raise invalid(name, f"{name} cannot be in the future.")


async def open_incident(
    session: AsyncSession,
    *,
    title: str,
    kind: str,
    summary: str,
    detected_at: datetime,
    occurred_at: datetime | None,
    staff_id: str,
    now: datetime,
) -> Incident:
    _check_times(now, detected_at=detected_at, occurred_at=occurred_at)
    if occurred_at is not None and occurred_at > detected_at:
        raise invalid("occurred_at", "An incident cannot occur after it was detected.")
    incident_id = new_id("inc")
    await session.execute(
        models.incident.insert().values(
            id=incident_id,
            title=title,
            kind=kind,
            summary=summary,
            status="open",
            detected_at=detected_at,
            occurred_at=occurred_at,
            created_by=staff_id,
            created_at=now,
            updated_at=now,
        )
    )
    await append_entry(
        session,
        incident_id,
        kind="status",
        text=f"インシデントを登録 (opened): {title}",
        at=now,
        staff_id=staff_id,
        now=now,
        data={"status": "open"},
    )
    return await get_incident(session, incident_id)


async def get_incident(session: AsyncSession, incident_id: str, *, for_update: bool = False) -> Incident:
    """The incident; `for_update` serialises the changes to one incident (a containment, a notice, a status)."""
    query = select(models.incident).where(models.incident.c.id == incident_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise IncidentNotFound(f"There is no incident {incident_id}.")
    return _incident(row)


async def list_incidents(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Incident], str | None]:
    """Newest first; the cursor is the last id of the previous page."""
    i = models.incident
    query = select(i).order_by(i.c.created_at.desc(), i.c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(i.c.status == status)
    if cursor is not None:
        after = (await session.execute(select(i.c.created_at, i.c.id).where(i.c.id == cursor))).first()
        if after is None:
            raise invalid("cursor", "The cursor is not one this list gave.")
        query = query.where(
            (i.c.created_at < after.created_at) | ((i.c.created_at == after.created_at) & (i.c.id < after.id))
        )
    rows = [_incident(row) for row in (await session.execute(query)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def timeline(session: AsyncSession, incident_id: str) -> list[Entry]:
    e = models.incident_entry
    rows = await session.execute(select(e).where(e.c.incident_id == incident_id).order_by(e.c.seq))
    return [_entry(row) for row in rows.all()]


async def append_entry(
    session: AsyncSession,
    incident_id: str,
    *,
    kind: str,
    text: str,
    at: datetime | None,
    staff_id: str,
    now: datetime,
    corrects: str | None = None,
    data: dict[str, Any] | None = None,
) -> Entry:
    """One more entry, numbered after the last. Callers that may race hold the incident's row (get_incident
    with for_update); the unique (incident, seq) index refuses a second entry with the same number anyway."""
    _check_times(now, at=at)
    e = models.incident_entry
    if corrects is not None:
        found = await session.execute(select(e.c.id).where(e.c.id == corrects, e.c.incident_id == incident_id).limit(1))
        if found.first() is None:
            raise invalid("corrects", "The entry corrected must be an entry of this incident's timeline.")
    last = (await session.execute(select(func.max(e.c.seq)).where(e.c.incident_id == incident_id))).scalar()
    entry_id = new_id("ine")
    await session.execute(
        e.insert().values(
            id=entry_id,
            incident_id=incident_id,
            seq=(last or 0) + 1,
            kind=kind,
            text=text,
            at=at or now,
            recorded_at=now,
            recorded_by=staff_id,
            corrects=corrects,
            data=json.dumps(data or {}, ensure_ascii=False),
        )
    )
    row = (await session.execute(select(e).where(e.c.id == entry_id))).one()
    return _entry(row)


class StatusConflict(Problem):
    status = 409
    code = "status_conflict"


async def change_status(
    session: AsyncSession,
    incident_id: str,
    *,
    status: str,
    reason: str,
    reopen: bool,
    staff_id: str,
    now: datetime,
) -> Incident:
    """Forward to any later status; back only with `reopen` (said out loud, in the timeline); never out of
    closed. Closing needs the recurrence-prevention record (INC-8)."""
    incident = await get_incident(session, incident_id, for_update=True)
    current, wanted = STATUSES.index(incident.status), STATUSES.index(status)
    if incident.status == "closed":
        raise StatusConflict(
            "A closed incident stays closed; open a new one that refers to it.", code="incident_closed"
        )
    if wanted == current:
        raise StatusConflict(f"The incident is already {status}.", code="status_unchanged")
    if wanted < current and not reopen:
        raise StatusConflict(
            f"Going back from {incident.status} to {status} must be asked for with reopen: true.",
            code="status_backwards",
        )
    if status == "closed" and not await has_recurrence_prevention(session, incident_id):
        raise StatusConflict(
            "An incident cannot be closed before its recurrence prevention is recorded (INC-8).",
            code="recurrence_prevention_missing",
        )
    await session.execute(
        models.incident.update().where(models.incident.c.id == incident_id).values(status=status, updated_at=now)
    )
    await append_entry(
        session,
        incident_id,
        kind="status",
        text=f"状態を {incident.status} から {status} に変更: {reason}",
        at=now,
        staff_id=staff_id,
        now=now,
        data={"from": incident.status, "to": status, "reason": reason, "reopen": wanted < current},
    )
    return await get_incident(session, incident_id)


async def has_recurrence_prevention(session: AsyncSession, incident_id: str) -> bool:
    r = models.incident_recurrence
    found = await session.execute(select(r.c.version).where(r.c.incident_id == incident_id).limit(1))
    return found.first() is not None
