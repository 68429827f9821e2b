"""The consultation desk (INC-5; JFSA 3(2) ①(a)-(c)): every inquiry from a victim, their family or the police is
recorded, answered and closed, and the facts behind it come from fraud's own records with it.

An inquiry moves new -> in_progress -> answered -> closed. An answer is appended, never changed or removed, and
moves a new or in-progress inquiry to answered; an answered one may go back to in_progress (the caller came back)
or be closed; a closed one stays closed (a new contact is a new inquiry). Nothing is ever deleted.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import event_queries, lists, models, paging
from services.fraud.cases import Case, case_of
from shared.ids import is_id, new_id
from shared.problems import Problem, invalid

CHANNELS = ("phone", "email", "letter", "counter", "web")
CALLERS = ("customer", "family", "police", "other")
STATUSES = ("new", "in_progress", "answered", "closed")
# The moves staff make by hand; an answer also moves new and in_progress to answered (add_answer).
MOVES = {"new": {"in_progress"}, "in_progress": {"answered"}, "answered": {"in_progress", "closed"}, "closed": set()}
FACTS_WINDOW = timedelta(days=90)
FACTS_EVENTS = 100
FACTS_CASES = 50
CURSOR_KIND = "inquiries"
_INCIDENT = re.compile(r"^inc_[0-9a-z]{1,36}$")


class InquiryNotFound(Problem):
    status = 404
    code = "inquiry_not_found"


class InquiryClosed(Problem):
    status = 409
    code = "inquiry_closed"


class StatusChangeRefused(Problem):
    status = 409
    code = "inquiry_status_refused"


@dataclass(frozen=True)
class Answer:
    id: str
    inquiry_id: str
    at: datetime
    by: str
    channel: str
    text: str


@dataclass(frozen=True)
class Inquiry:
    id: str
    received_at: datetime
    recorded_at: datetime
    recorded_by: str
    customer_id: str | None
    incident_id: str | None
    channel: str
    caller: str
    summary: str
    status: str
    status_changed_at: datetime
    status_changed_by: str


def _inquiry(row: Any) -> Inquiry:
    return Inquiry(**{name: getattr(row, name) for name in Inquiry.__dataclass_fields__})


def check_customer_id(value: str) -> str:
    if not is_id(value, "cus"):
        raise invalid("customer_id", "customer_id is a customer id as the ops views show it (cus_…).")
    return value


def check_incident_id(value: str) -> str:
    # Incidents live elsewhere (issue 17's incident response); the desk keeps the id as given, once it has its shape.
    if not _INCIDENT.match(value):
        raise invalid("incident_id", "incident_id is an incident id (inc_…).")
    return value


async def record_inquiry(
    session: AsyncSession,
    *,
    customer_id: str | None,
    incident_id: str | None,
    channel: str,
    caller: str,
    summary: str,
    received_at: datetime | None,
    by: str,
    now: datetime,
) -> Inquiry:
    if received_at is not None and received_at > now + timedelta(minutes=5):
        raise invalid("received_at", "received_at cannot be in the future.")
    inquiry = Inquiry(
        id=new_id("inq"),
        received_at=received_at or now,
        recorded_at=now,
        recorded_by=by,
        customer_id=check_customer_id(customer_id) if customer_id is not None else None,
        incident_id=check_incident_id(incident_id) if incident_id is not None else None,
        channel=channel,
        caller=caller,
        summary=summary,
        status="new",
        status_changed_at=now,
        status_changed_by=by,
    )
    await session.execute(models.inquiry.insert().values(**asdict(inquiry)))
    return inquiry


async def get_inquiry(session: AsyncSession, inquiry_id: str, *, for_update: bool = False) -> Inquiry:
    q = models.inquiry
    query = select(q).where(q.c.id == inquiry_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise InquiryNotFound(f"There is no inquiry {inquiry_id[:40]!r}.")
    return _inquiry(row)


async def list_inquiries(
    session: AsyncSession,
    *,
    status: str | None,
    customer_id: str | None,
    incident_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Inquiry], str | None]:
    """Newest recorded first (ids are time-ordered), one page, and the cursor of the next page (None: the last)."""
    q = models.inquiry
    query = select(q).order_by(q.c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(q.c.status == status)
    if customer_id is not None:
        query = query.where(q.c.customer_id == check_customer_id(customer_id))
    if incident_id is not None:
        query = query.where(q.c.incident_id == check_incident_id(incident_id))
    if cursor is not None:
        after = paging.decode_cursor(CURSOR_KIND, cursor, prefix="inq")
        if (await session.execute(select(q.c.id).where(q.c.id == after))).first() is None:
            raise paging.cursor_invalid()
        query = query.where(q.c.id < after)
    rows = [_inquiry(row) for row in (await session.execute(query)).all()]
    more = len(rows) > limit
    page = rows[:limit]
    return page, paging.encode_cursor(CURSOR_KIND, page[-1].id) if more else None


async def answers_of(session: AsyncSession, inquiry_id: str) -> list[Answer]:
    a = models.inquiry_answer
    rows = (await session.execute(select(a).where(a.c.inquiry_id == inquiry_id).order_by(a.c.at, a.c.id))).all()
    return [Answer(**{name: getattr(row, name) for name in Answer.__dataclass_fields__}) for row in rows]


async def add_answer(
    session: AsyncSession, *, inquiry_id: str, text: str, channel: str, by: str, now: datetime
) -> tuple[Inquiry, Answer]:
    """Append an answer; a new or in-progress inquiry is then answered. A closed inquiry takes none (409)."""
    inquiry = await get_inquiry(session, inquiry_id, for_update=True)
    if inquiry.status == "closed":
        raise InquiryClosed("The inquiry is closed; record the caller's new contact as a new inquiry.")
    answer = Answer(id=new_id("ans"), inquiry_id=inquiry.id, at=now, by=by, channel=channel, text=text)
    await session.execute(models.inquiry_answer.insert().values(**asdict(answer)))
    if inquiry.status in ("new", "in_progress"):
        inquiry = await _move(session, inquiry, "answered", by=by, now=now)
    return inquiry, answer


async def change_status(session: AsyncSession, *, inquiry_id: str, status: str, by: str, now: datetime) -> Inquiry:
    inquiry = await get_inquiry(session, inquiry_id, for_update=True)
    if status not in MOVES[inquiry.status]:
        allowed = ", ".join(sorted(MOVES[inquiry.status])) or "none"
        raise StatusChangeRefused(
            f"An inquiry that is {inquiry.status} cannot become {status} (allowed: {allowed}).",
            current=inquiry.status,
        )
    if status in ("answered", "closed") and not await answers_of(session, inquiry.id):
        raise StatusChangeRefused(f"An inquiry becomes {status} only once it has an answer.", current=inquiry.status)
    return await _move(session, inquiry, status, by=by, now=now)


async def _move(session: AsyncSession, inquiry: Inquiry, status: str, *, by: str, now: datetime) -> Inquiry:
    q = models.inquiry
    rows = (
        await session.execute(
            update(q)
            .where(q.c.id == inquiry.id, q.c.status == inquiry.status)  # a concurrent move wins once
            .values(status=status, status_changed_at=now, status_changed_by=by)
            .returning(*q.c)
        )
    ).all()
    if not rows:
        raise StatusChangeRefused("The inquiry changed meanwhile; read it again.", current=inquiry.status)
    return _inquiry(rows[0])


# ---- the facts a desk needs at once --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    since: datetime
    events: list[dict[str, Any]]  # the customer's, newest first, as the event search shows them
    events_truncated: bool
    cases: list[Case]
    list_entries: list[lists.Entry]  # the customer, and the devices and IPs they used, on a deny or allow list


async def facts_of(session: AsyncSession, customer_id: str | None, *, now: datetime) -> Facts:
    """Only this customer's own records: their events, their cases, and list entries that name them or a device or
    address they used; never another customer's events, even on a shared phone."""
    since = now - FACTS_WINDOW
    if customer_id is None:
        return Facts(since, [], False, [], [])
    e = models.event
    rows = (
        await session.execute(
            select(e)
            .where(e.c.customer_id == customer_id, e.c.occurred_at >= since)
            .order_by(e.c.occurred_at.desc(), e.c.id.desc())
            .limit(FACTS_EVENTS + 1)
        )
    ).all()
    events = [event_queries.event_view(row) for row in rows[:FACTS_EVENTS]]
    c = models.case
    case_rows = (
        await session.execute(
            select(c).where(c.c.customer_id == customer_id).order_by(c.c.opened_at.desc()).limit(FACTS_CASES)
        )
    ).all()
    digests = {event["device_digest"] for event in events if event["device_digest"]}
    ips = {event["ip"] for event in events if event["ip"]}
    return Facts(
        since,
        events,
        len(rows) > FACTS_EVENTS,
        [case_of(row) for row in case_rows],
        await _entries_naming(session, customer_id, digests, ips, now=now),
    )


async def _entries_naming(
    session: AsyncSession, customer_id: str, digests: set[str], ips: set[str], *, now: datetime
) -> list[lists.Entry]:
    entry = models.list_entry
    named: list[ColumnElement[bool]] = [(entry.c.list == "customers") & (entry.c.value == customer_id)]
    if digests:
        named.append((entry.c.list == "devices") & entry.c.value.in_(sorted(digests)))
    rows = (
        await session.execute(select(entry).where(or_(*named), *lists.active(now)).order_by(entry.c.created_at.desc()))
    ).all()
    found = [lists.entry_of(row) for row in rows]
    if ips:  # networks as CIDR: matched here, a handful of entries at most
        ip_rows = (await session.execute(select(entry).where(entry.c.list == "ips", *lists.active(now)))).all()
        found += [lists.entry_of(row) for row in ip_rows if lists.covers(row.value, ips)]
    return found
