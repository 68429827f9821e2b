"""Notices to the customers an incident touched (INC-3, JFSA 3(1) ③(b)): staff choose a template, and auth, which
holds the customers' contacts, queues the notice for notify. Each customer gets each template once per incident:
a notice sent again goes only to the customers who have not had it (those auth could not reach before)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import incidents, models
from services.fraud.clients import AuthClient
from services.fraud.incident_reports import NOTICE_NAMES
from shared.contracts.fraud_actions import INCIDENT_ACTIONS_BATCH, IncidentActionRequest, IncidentNoticeTemplate
from shared.contracts.notifications import Language
from shared.problems import Problem


class NoAffectedCustomers(Problem):
    status = 409
    code = "no_affected_customers"


@dataclass
class Sent:
    customers: int = 0  # recorded on the incident
    already: int = 0  # had this notice before
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


async def send_notice(
    session: AsyncSession,
    auth: AuthClient,
    incident_id: str,
    *,
    template: IncidentNoticeTemplate,
    language: Language | None,
    staff_id: str,
    now: datetime,
) -> Sent:
    incident = await incidents.get_incident(session, incident_id, for_update=True)
    if incident.status == "closed":
        raise incidents.StatusConflict("A closed incident sends no more notices.", code="incident_closed")
    c, n = models.incident_customer, models.incident_notice
    customers = list((await session.scalars(select(c.c.customer_id).where(c.c.incident_id == incident_id))).all())
    if not customers:
        raise NoAffectedCustomers("No customer is recorded on this incident: contain or list them first.")
    told = set(
        (
            await session.scalars(
                select(n.c.customer_id).where(n.c.incident_id == incident_id, n.c.template == template)
            )
        ).all()
    )
    result = Sent(customers=len(customers), already=len(told))
    targets = sorted(set(customers) - told)
    for start in range(0, len(targets), INCIDENT_ACTIONS_BATCH):
        batch = targets[start : start + INCIDENT_ACTIONS_BATCH]
        request = IncidentActionRequest(
            incident_id=incident_id,
            action="notify",
            customer_ids=batch,
            template=template,
            reference=incident_id,
            detected_at=incident.detected_at,
            language=language,
        )
        try:
            answer = await auth.incident_actions(request)
        except Problem as exc:  # auth unreachable: the rest are failed, for the next notice to retry
            result.failed.update(dict.fromkeys(targets[start:], f"auth: {exc.code}"))
            break
        done = {r.customer_id for r in answer.results if r.done}
        result.sent += sorted(done & set(batch))
        result.failed.update({r.customer_id: r.reason or "not done" for r in answer.results if not r.done})
        result.failed.update(dict.fromkeys(set(batch) - done - set(result.failed), "no answer for this customer"))
    if result.sent:
        await session.execute(
            n.insert(),
            [
                {
                    "incident_id": incident_id,
                    "template": template,
                    "customer_id": customer,
                    "sent_at": now,
                    "sent_by": staff_id,
                }
                for customer in result.sent
            ],
        )
    if result.sent or result.failed:
        await incidents.append_entry(
            session,
            incident_id,
            kind="notice",
            text=(
                f"お客さまへの通知「{NOTICE_NAMES[template]}」: {len(result.sent)} 名に送信"
                f"（送信済み {result.already} 名、失敗 {len(result.failed)} 名）"
            ),
            at=now,
            staff_id=staff_id,
            now=now,
            data={
                "template": template,
                "language": language,
                "sent": len(result.sent),
                "already": result.already,
                "failed": len(result.failed),
                "failed_customers": sorted(result.failed)[:100],
            },
        )
    return result
