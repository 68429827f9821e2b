"""Working a case (RESP-1/3): the queue paged with cursors, who works a case, its comments and its status on the way
to a resolution (cases.resolve_case).

A case moves open -> in_review -> escalated (and back to in_review once a supervisor has looked); it is resolved from
any of them, once. An analyst takes a case for themselves; only a supervisor or an admin gives it to someone else.
Comments are appended, never changed or removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models, paging
from services.fraud.cases import Case, CaseAlreadyResolved, case_of, get_case
from shared.ids import is_id, new_id
from shared.problems import Problem, invalid
from shared.roles import has_role

STATUSES = ("open", "in_review", "escalated", "resolved")
# The moves by hand; "resolved" only through cases.resolve_case, with a label.
MOVES = {"open": {"in_review", "escalated"}, "in_review": {"escalated"}, "escalated": {"in_review"}, "resolved": set()}
CURSOR_KIND = "cases"


class CaseStatusRefused(Problem):
    status = 409
    code = "case_status_refused"


class AssignmentForbidden(Problem):
    status = 403
    code = "assignment_forbidden"


@dataclass(frozen=True)
class Comment:
    id: str
    case_id: str
    at: datetime
    by: str
    text: str


async def list_cases(
    session: AsyncSession, *, status: str | None, assignee: str | None, cursor: str | None, limit: int
) -> tuple[list[Case], str | None]:
    """Cases newest first, of one status and assignee or all, one page; and the next page's cursor (None: last)."""
    c = models.case
    query = select(c).order_by(c.c.opened_at.desc(), c.c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(c.c.status == status)
    if assignee is not None:
        query = query.where(c.c.assignee == check_staff_id(assignee, "assignee"))
    if cursor is not None:
        after_id = paging.decode_cursor(CURSOR_KIND, cursor, prefix="cas")
        after = (await session.execute(select(c.c.opened_at, c.c.id).where(c.c.id == after_id))).first()
        if after is None:
            raise paging.cursor_invalid()
        query = query.where(
            (c.c.opened_at < after.opened_at) | ((c.c.opened_at == after.opened_at) & (c.c.id < after.id))
        )
    rows = [case_of(row) for row in (await session.execute(query)).all()]
    page = rows[:limit]
    return page, paging.encode_cursor(CURSOR_KIND, page[-1].id) if len(rows) > limit else None


def check_staff_id(value: str, field: str = "staff_id") -> str:
    if not is_id(value, "stf"):
        raise invalid(field, f"{field} is a staff id (stf_…).")
    return value


async def assign_case(
    session: AsyncSession, *, case_id: str, staff_id: str | None, by: str, role: str, now: datetime
) -> Case:
    """Give the case to `staff_id` (None: to `by` themselves). Only a supervisor or an admin assigns others."""
    assignee = by if staff_id is None else check_staff_id(staff_id)
    if assignee != by and not has_role(role, "supervisor"):
        raise AssignmentForbidden("An analyst takes cases for themselves; a supervisor assigns them to others.")
    c = models.case
    rows = (
        await session.execute(
            update(c)
            .where(c.c.id == case_id, c.c.status != "resolved")
            .values(assignee=assignee, assigned_at=now, assigned_by=by)
            .returning(*c.c)
        )
    ).all()
    if rows:
        return case_of(rows[0])
    found = await get_case(session, case_id)  # 404 when there is no such case
    raise CaseAlreadyResolved(f"The case was already resolved as {found.label}; it is no longer assigned.")


async def change_status(session: AsyncSession, *, case_id: str, status: str, now: datetime) -> Case:
    """Move an unresolved case by MOVES; the update holds only if nobody moved it meanwhile."""
    case = await get_case(session, case_id)
    if status not in MOVES[case.status]:
        if case.status == "resolved":
            raise CaseAlreadyResolved(f"The case was already resolved as {case.label}.")
        allowed = ", ".join(sorted(MOVES[case.status]))
        raise CaseStatusRefused(
            f"A case that is {case.status} cannot become {status} (allowed: {allowed}; resolve with a label).",
            current=case.status,
        )
    c = models.case
    rows = (
        await session.execute(
            update(c).where(c.c.id == case.id, c.c.status == case.status).values(status=status).returning(*c.c)
        )
    ).all()
    if not rows:
        raise CaseStatusRefused("The case changed meanwhile; read it again.", current=case.status)
    return case_of(rows[0])


async def add_comment(session: AsyncSession, *, case_id: str, text: str, by: str, now: datetime) -> Comment:
    case = await get_case(session, case_id)  # 404 when there is no such case
    comment = Comment(id=new_id("cmt"), case_id=case.id, at=now, by=by, text=text)
    await session.execute(models.case_comment.insert().values(**asdict(comment)))
    return comment


async def comments_of(session: AsyncSession, case_id: str) -> list[Comment]:
    m = models.case_comment
    rows = (await session.execute(select(m).where(m.c.case_id == case_id).order_by(m.c.at, m.c.id))).all()
    return [_comment(row) for row in rows]


def _comment(row: Any) -> Comment:
    return Comment(**{name: getattr(row, name) for name in Comment.__dataclass_fields__})
