"""Staff routes of the fraud service, reached through the gateway's /v1/ops/fraud/...: event search (MON-2),
trends by type, outcome and channel (MON-1), the deny and allow lists (RESP-3, SEC-4) and the indicator export
(INC-4). Every read and change is audited (SEC-6); the role is checked here again although the gateway checked it
first.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from services.fraud import device_blocks, device_digests, event_queries, lists, models
from services.fraud.runtime import fraud_runtime
from services.fraud.schemas import EventPage, EventView, Indicator, IndicatorExport, TrendPoint, Trends
from shared.audit import audit_staff
from shared.channels import Channel
from shared.database import on_commit
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, invalid, problem_responses
from shared.roles import refuse_outsourced, require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal/ops", tags=["ops"])

MAX_WINDOW = {"hour": timedelta(days=31), "day": timedelta(days=366)}
DEFAULT_WINDOW = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
INDICATOR_COLUMNS = ("type", "value", "first_seen", "source", "note")

Kind = Literal["deny", "allow"]
Since = Annotated[AwareDatetime | None, Query()]
ChannelQuery = Annotated[Channel | None, Query(description="app, web, atm, ops, system or unknown (MON-1)")]


# ---- event search (MON-2) ------------------------------------------------------------------------------------------


@router.get(
    "/events",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def search_events(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
    ip: Annotated[str | None, Query(max_length=64, description="an address, or a network in CIDR notation")] = None,
    device_id: Annotated[
        str | None, Query(max_length=200, description="auth's device id, or the device digest (or key)")
    ] = None,
    type: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    since: Since = None,
    until: Since = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    channel: ChannelQuery = None,
) -> EventPage:
    """Events newest first, by customer, IP or network, device, type, channel and time (analyst; the read is
    audited)."""
    require_staff(identity, "analyst")
    _check_window(since, until)
    where: list[ColumnElement[bool]] = []
    e = models.event
    if customer_id is not None:
        where.append(e.c.customer_id == customer_id)
    if device_id is not None:
        where.append(or_(e.c.device_id == device_id, e.c.device_digest == device_digests.as_digest(device_id)))
    if type is not None:
        where.append(e.c.type == type)
    if channel is not None:
        where.append(e.c.channel == channel)
    if since is not None:
        where.append(e.c.occurred_at >= since)
    if until is not None:
        where.append(e.c.occurred_at < until)
    match = event_queries.ip_match(ip) if ip is not None else event_queries.IpMatch()
    where.extend(match.conditions())
    rows, truncated = await event_queries.find_events(session, where, match, limit)
    events = [event_queries.event_view(row) for row in rows]
    shown_device = device_digests.searched(device_id) if device_id is not None else None
    filters = {"customer_id": customer_id, "ip": ip, "device_id": shown_device, "type": type, "limit": limit}
    filters["channel"] = channel
    filters.update(since=since.isoformat() if since else None, until=until.isoformat() if until else None)
    await _audit(
        session,
        state,
        identity,
        action="fraud_events.search",
        target_type="fraud_event",
        target_id=customer_id or "*",
        detail={"filters": filters, "customers": sorted({v["customer_id"] for v in events if v["customer_id"]})},
    )
    return EventPage(events=[EventView(**event) for event in events], truncated=truncated)


def _check_window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise invalid("since", "since must be before until.")


# ---- trends (MON-1) ------------------------------------------------------------------------------------------------


@router.get(
    "/trends",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def trends(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    bucket: Literal["hour", "day"] = "hour",
    since: Since = None,
    until: Since = None,
    type: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    channel: ChannelQuery = None,
) -> Trends:
    """Events per hour or day (UTC) by type, outcome and channel, oldest first; empty buckets are left out
    (analyst)."""
    require_staff(identity, "analyst")
    until = until or state.clock.now()
    since = since or until - DEFAULT_WINDOW[bucket]
    _check_window(since, until)
    if until - since > MAX_WINDOW[bucket]:
        raise invalid("since", f"Per {bucket}, a window is at most {MAX_WINDOW[bucket].days} days.")
    e = models.event
    at = event_queries.bucket_text(session, bucket)
    query = (
        select(at.label("bucket_at"), e.c.type, e.c.outcome, e.c.channel, func.count().label("count"))
        .where(e.c.occurred_at >= since, e.c.occurred_at < until)
        .group_by(at, e.c.type, e.c.outcome, e.c.channel)
    )
    if type is not None:
        query = query.where(e.c.type == type)
    if channel is not None:
        query = query.where(e.c.channel == channel)
    text_format = "%Y-%m-%d %H" if bucket == "hour" else "%Y-%m-%d"
    series = sorted(
        (
            {
                "at": datetime.strptime(row.bucket_at, text_format).replace(tzinfo=UTC).isoformat(),
                "type": row.type,
                "outcome": row.outcome,
                "channel": row.channel,
                "count": row.count,
            }
            for row in (await session.execute(query)).all()
        ),
        key=lambda point: (point["at"], point["type"], point["outcome"], point["channel"]),
    )
    await _audit(
        session,
        state,
        identity,
        action="fraud_trends.view",
        target_type="fraud_trend",
        target_id=type or "*",
        detail={
            "filters": {
                "bucket": bucket,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "type": type,
                "channel": channel,
            }
        },
    )
    return Trends(
        bucket=bucket,
        since=since.isoformat(),
        until=until.isoformat(),
        series=[TrendPoint(**point) for point in series],
    )


# ---- lists (RESP-3, SEC-4) -----------------------------------------------------------------------------------------


class ListEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(
        min_length=1, max_length=200, description="for devices: the key or its digest; the digest is stored"
    )
    kind: Kind = "deny"
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    expires_at: AwareDatetime | None = None
    reason: Literal["malware"] | None = Field(
        default=None,
        description="devices, deny only: the device is believed infected (SEC-3): its logins are refused "
        "(device_blocked), its customers' sessions on it end and they are warned by e-mail and SMS",
    )


class ListEntryView(BaseModel):
    id: str
    list: str
    kind: Kind
    value: str
    note: str
    source: str = Field(description="the staff id that added it, or rule:<id>")
    created_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None
    removed_by: str | None
    reason: str | None = Field(default=None, description="malware: a device blocked as infected (SEC-3)")
    in_force: bool

    @classmethod
    def of(cls, entry: lists.Entry, now: datetime) -> ListEntryView:
        return cls(**asdict(entry), in_force=entry.in_force(now))


class ListEntries(BaseModel):
    entries: list[ListEntryView]


@router.get(
    "/lists/{list_name}/entries",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "list_not_found"),
    ),
)
async def list_entries(
    list_name: str, session: SessionDep, state: StateDep, identity: IdentityDep, include_removed: bool = False
) -> ListEntries:
    """The entries in force, newest first; with `include_removed`, also those removed or expired (supervisor)."""
    require_staff(identity, "supervisor")
    now = state.clock.now()
    found = await lists.entries(session, list_name=list_name, now=now, include_removed=include_removed)
    detail: dict[str, Any] = {"include_removed": include_removed, "count": len(found)}
    if list_name == "customers":
        detail["customers"] = sorted({entry.value for entry in found})
    await _audit_list(session, state, identity, "fraud_list.view", f"{list_name}:*", detail)
    return ListEntries(entries=[ListEntryView.of(entry, now) for entry in found])


@router.put(
    "/lists/{list_name}/entries",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "list_not_found"),
        (422, "validation_failed"),
    ),
)
async def put_list_entry(
    list_name: str, body: ListEntryIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> ListEntryView:
    """Add a value, or replace the entry in force for the same value and kind (the old one is kept, removed)."""
    staff_id = require_staff(identity, "supervisor")
    now = state.clock.now()
    added, replaced = await lists.add_entry(
        session,
        list_name=list_name,
        kind=body.kind,
        value=body.value,
        note=body.note,
        expires_at=body.expires_at,
        source=staff_id,
        now=now,
        reason=body.reason,
    )
    _forget_lists(session, state)
    blocked = await device_blocks.block_device(session, state, added) if added.reason == lists.INFECTED else []
    for old in replaced:  # an infected entry replaced by one that is not: the device is no longer blocked
        if old.reason == lists.INFECTED and added.reason != lists.INFECTED:
            blocked += await device_blocks.unblock_device(session, state, old)
    detail = {
        "entry_id": added.id,
        "kind": added.kind,
        "value": added.value,
        "note": added.note,
        "expires_at": added.expires_at.isoformat() if added.expires_at else None,
        "replaced": [entry.id for entry in replaced],
        "reason": added.reason,
        "customers": blocked,  # those whose sessions on the infected device end, and who are warned
    }
    await _audit_list(session, state, identity, "fraud_list.add", f"{list_name}:{added.value}", detail)
    return ListEntryView.of(added, now)


@router.delete(
    "/lists/{list_name}/entries",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "list_entry_not_found"),
        (404, "list_not_found"),
        (422, "validation_failed"),
    ),
)
async def delete_list_entry(
    list_name: str,
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    value: Annotated[str, Query(min_length=1, max_length=200)],
    kind: Kind = "deny",
) -> ListEntryView:
    """Take a value off the list: its entry is marked removed, by whom and when, and kept."""
    staff_id = require_staff(identity, "supervisor")
    now = state.clock.now()
    removed = await lists.remove_entry(session, list_name=list_name, kind=kind, value=value, by=staff_id, now=now)
    _forget_lists(session, state)
    unblocked = await device_blocks.unblock_device(session, state, removed) if removed.reason == lists.INFECTED else []
    detail = {"entry_id": removed.id, "kind": kind, "value": removed.value, "customers": unblocked}
    await _audit_list(session, state, identity, "fraud_list.remove", f"{list_name}:{removed.value}", detail)
    return ListEntryView.of(removed, now)


def _forget_lists(session: AsyncSession, state: ServiceState) -> None:
    # After the commit, not before: a score in between would cache the old lists for another second.
    on_commit(session, fraud_runtime(state).scorer.lists.forget)


async def _audit_list(
    session: AsyncSession, state: ServiceState, identity: ServiceIdentity, action: str, target: str, detail: Any
) -> None:
    await _audit(session, state, identity, action=action, target_type="fraud_list", target_id=target, detail=detail)


# ---- indicators (INC-4) --------------------------------------------------------------------------------------------


@router.get(
    "/indicators",
    response_model=None,
    # JSON by default, CSV (the same columns) with format=csv.
    responses={
        200: {"model": IndicatorExport, "content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses(
            *STAFF_ROUTE_PROBLEMS,
            (403, "outsourced_restricted"),
            (422, "validation_failed"),
        ),
    },
)
async def export_indicators(
    session: SessionDep,
    state: StateDep,
    identity: IdentityDep,
    since: Since = None,
    kinds: Annotated[str, Query(max_length=100, description="comma-separated: ip, device, bank_account")] = (
        "ip,device,bank_account"
    ),
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Indicators to share with other companies: deny-listed IPs, devices and bank accounts, and what cases
    resolved as fraud showed; never a customer (supervisor, not an outsourced operator: DATA-4; the export is
    audited)."""
    require_staff(identity, "supervisor")
    refuse_outsourced(identity, "export indicators")
    chosen = frozenset(kind.strip() for kind in kinds.split(",") if kind.strip())
    allowed = set(lists.INDICATOR_TYPES.values())
    if not chosen or not chosen <= allowed:
        raise invalid("kinds", f"kinds is a comma-separated list of {', '.join(sorted(allowed))}.")
    now = state.clock.now()
    found = await lists.indicators(session, kinds=chosen, since=since, now=now)
    detail = {
        "filters": {"since": since.isoformat() if since else None, "kinds": sorted(chosen), "format": format},
        "count": len(found),
    }
    await _audit(
        session,
        state,
        identity,
        action="fraud_indicators.export",
        target_type="fraud_indicator",
        target_id="*",
        detail=detail,
    )
    rows = [
        {
            "type": i.type,
            "value": i.value,  # a device by digest (lists.indicators)
            "first_seen": i.first_seen.isoformat(),
            "source": i.source,
            "note": i.note,
        }
        for i in found
    ]
    if format == "csv":
        return Response(_csv(rows), media_type="text/csv; charset=utf-8")
    export = IndicatorExport(generated_at=now.isoformat(), indicators=[Indicator(**row) for row in rows])
    return JSONResponse(export.model_dump())


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=INDICATOR_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({name: _cell(value) for name, value in row.items()} for row in rows)
    return out.getvalue()


def _cell(value: str) -> str:
    # A note that starts like a formula would run as one in the spreadsheet the receiving company opens.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def _audit(
    session: AsyncSession,
    state: ServiceState,
    identity: ServiceIdentity,
    *,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any],
) -> None:
    await audit_staff(
        session, state, identity, action=action, target_type=target_type, target_id=target_id, detail=detail
    )
