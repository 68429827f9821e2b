"""Routes of the publication of fraud cases (INC-6 (e) 公表): a supervisor publishes a notice (audited, SEC-6), and
anyone, signed in or not, reads the published notices."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.txn import publications
from services.txn.dependencies import RuntimeDep, SupervisorDep
from services.txn.schemas import NoticeList, NoticeView, PublicationRequest, PublicationView
from shared.audit import audit_entry, record_audit
from shared.dependencies import SessionDep, only_from
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses

ops_router = APIRouter(prefix="/v1/ops/publications", tags=["ops"], dependencies=[only_from("gateway")])
public_router = APIRouter(prefix="/v1/notices", tags=["notices"], dependencies=[only_from("gateway")])


@ops_router.post(
    "",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "not_found"),
        (422, "customer_data_in_notice"),
    ),
)
async def publish(
    body: PublicationRequest, actor: SupervisorDep, session: SessionDep, runtime: RuntimeDep
) -> PublicationView:
    """Publish a notice about a fraud case. 422 `customer_data_in_notice` when it names a customer id, an e-mail
    address or a phone number: nothing is published then."""
    notice = publications.Notice(body.title, body.body, body.language, body.dispute_ids)
    now = runtime.clock.now()
    publication_id = await publications.publish(session, notice, actor=actor.staff_id, at=now)
    row = await publications.load(session, publication_id)
    entry = audit_entry(
        actor,
        service="txn",
        action="publication.publish",
        target_type="publication",
        target_id=publication_id,
        at=now,
        detail={"title": row.title, "language": row.language, "dispute_ids": publications.dispute_ids_of(row)},
    )
    await record_audit(runtime.outbox, session, entry)
    return PublicationView(
        publication_id=row.id,
        title=row.title,
        body=row.body,
        language=row.language,
        dispute_ids=publications.dispute_ids_of(row),
        published_by=row.published_by,
        published_at=row.published_at,
    )


@public_router.get("")
async def list_notices(
    session: SessionDep,
    language: Literal["ja", "en"] | None = None,
    before: Annotated[str | None, Query(max_length=40, pattern=r"^pub_[0-9a-z]{26}$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> NoticeList:
    """The published notices, newest first: title, body, language and when; nothing about the case's customer."""
    rows = await publications.published(session, language=language, before=before, limit=limit)
    return NoticeList(
        notices=[
            NoticeView(
                notice_id=row.id, title=row.title, body=row.body, language=row.language, published_at=row.published_at
            )
            for row in rows
        ],
        next=rows[-1].id if len(rows) == limit else None,
    )
