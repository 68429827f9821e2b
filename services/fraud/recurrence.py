"""Recurrence prevention of an incident (INC-8, JFSA 3(4) ①–④): the root cause, the risk re-assessed (partners
included), the cautions to customers and the staff's training material. Each version is kept with who wrote it and
when; the newest is in force, and an incident cannot be closed without one (incidents.change_status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import incidents, models


@dataclass(frozen=True)
class Prevention:
    version: int
    root_cause: str
    risk_reassessment: str
    customer_cautions: str
    training_material: str
    created_by: str
    created_at: datetime


def _prevention(row: Any) -> Prevention:
    return Prevention(
        version=row.version,
        root_cause=row.root_cause,
        risk_reassessment=row.risk_reassessment,
        customer_cautions=row.customer_cautions,
        training_material=row.training_material,
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def record(
    session: AsyncSession,
    incident_id: str,
    *,
    root_cause: str,
    risk_reassessment: str,
    customer_cautions: str,
    training_material: str,
    staff_id: str,
    now: datetime,
) -> Prevention:
    """A new version (the earlier ones stay), noted in the timeline."""
    incident = await incidents.get_incident(session, incident_id, for_update=True)
    if incident.status == "closed":
        raise incidents.StatusConflict("A closed incident's record is final.", code="incident_closed")
    r = models.incident_recurrence
    last = (await session.execute(select(func.max(r.c.version)).where(r.c.incident_id == incident_id))).scalar()
    version = (last or 0) + 1
    await session.execute(
        r.insert().values(
            incident_id=incident_id,
            version=version,
            root_cause=root_cause,
            risk_reassessment=risk_reassessment,
            customer_cautions=customer_cautions,
            training_material=training_material,
            created_by=staff_id,
            created_at=now,
        )
    )
    await incidents.append_entry(
        session,
        incident_id,
        kind="decision",
        text=f"再発防止策を記録（第{version}版）",
        at=now,
        staff_id=staff_id,
        now=now,
        data={"recurrence_prevention_version": version},
    )
    return (await history(session, incident_id))[-1]


async def history(session: AsyncSession, incident_id: str) -> list[Prevention]:
    """Every version, oldest first (the last is in force)."""
    r = models.incident_recurrence
    rows = await session.execute(select(r).where(r.c.incident_id == incident_id).order_by(r.c.version))
    return [_prevention(row) for row in rows.all()]


async def current(session: AsyncSession, incident_id: str) -> Prevention | None:
    versions = await history(session, incident_id)
    return versions[-1] if versions else None
