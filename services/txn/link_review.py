"""The existing-link review (INC-9, `sekisho links review`): active links made under weaker rules than today's are
suspended pending re-verification, their owners told, and fraud told.

A link is weak when it was made under an older rule set (rules_version below bank_links.RULES_VERSION), or without a
possession factor that counts today (none recorded, or an e-mail code or a password recorded as one), or without a
holder match against a verified identity: what the 2020 Docomo-account links lacked.
Suspended, it takes no charge (`link_suspended`) until the customer links the account again under today's rules,
which replaces it.

The review goes in batches of links ordered by id, each batch one transaction: the links suspended, their notices
and fraud events queued in the outbox, and the run's cursor (the last link id done) and counts moved on. A run
killed midway has committed whole batches only; the next run continues the unfinished run from its cursor, and a
suspended link is no longer active, so nobody is suspended or told twice (each notice's outbox key is the link's, a
second guard). Two runs at once take turns on the run row's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import bank_links, models
from services.txn.clients import CustomerNotFound
from services.txn.runtime import TxnRuntime
from shared.contracts.notifications import BankLinkSuspendedData, EventType
from shared.events import record_event
from shared.ids import new_id
from shared.notifications import send_notification

Progress = Callable[[int, int], None]  # (links reviewed, links to review in all)

_b = models.bank_link
_r = models.link_review_run


def weak() -> ColumnElement[bool]:
    """Active links made under weaker rules than today's."""
    return and_(
        _b.c.status == bank_links.ACTIVE,
        or_(
            _b.c.rules_version < bank_links.RULES_VERSION,
            _b.c.possession_factor.is_(None),
            _b.c.possession_factor.not_in(sorted(bank_links.POSSESSION_METHODS)),  # an e-mail code, a password
            _b.c.holder_matched_at.is_(None),
        ),
    )


def weaknesses(row: Any) -> list[str]:
    found = []
    if row.rules_version < bank_links.RULES_VERSION:
        found.append(f"rules_version_{row.rules_version}")
    if row.possession_factor not in bank_links.POSSESSION_METHODS:
        found.append("no_possession_factor" if row.possession_factor is None else f"factor_{row.possession_factor}")
    if row.holder_matched_at is None:
        found.append("no_holder_match")
    return found


@dataclass
class ReviewReport:
    run_id: str | None
    dry_run: bool
    resumed: bool = False
    total: int = 0
    reviewed: int = 0
    suspended: int = 0
    notified: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)  # a dry run's: what a run would suspend

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "resumed": self.resumed,
            "total": self.total,
            "reviewed": self.reviewed,
            "suspended": self.suspended,
            "notified": self.notified,
            "candidates": self.candidates,
        }


async def review_links(
    runtime: TxnRuntime, *, batch: int = 100, dry_run: bool = False, progress: Progress | None = None
) -> ReviewReport:
    """Review every weak link (or, with `dry_run`, only list them). `progress` is called after each batch."""
    if dry_run:
        async with runtime.database.transaction() as session:
            return await _dry_run(session)
    async with runtime.database.transaction() as session:
        report = await _open_run(session, runtime.clock.now())
    assert report.run_id is not None
    while True:
        async with runtime.database.transaction() as session:
            finished = await _review_batch(session, runtime, report, batch)
        if progress is not None:
            progress(report.reviewed, report.total)
        if finished:
            return report


async def _dry_run(session: AsyncSession) -> ReviewReport:
    rows = (await session.execute(select(_b).where(weak()).order_by(_b.c.id))).all()
    candidates = [
        {
            "link_id": row.id,
            "customer_id": row.customer_id,
            "bank_code": row.bank_code,
            "account_last4": row.account_last4,
            "weaknesses": weaknesses(row),
        }
        for row in rows
    ]
    return ReviewReport(run_id=None, dry_run=True, total=len(rows), candidates=candidates)


async def _open_run(session: AsyncSession, now: datetime) -> ReviewReport:
    """The unfinished run, to continue, or a new one."""
    running = (
        await session.execute(
            select(_r).where(_r.c.status == "running").order_by(_r.c.started_at.desc()).limit(1).with_for_update()
        )
    ).first()
    if running is not None:
        report = ReviewReport(running.id, dry_run=False, resumed=True)
        _copy_counts(report, running)
        report.total = running.reviewed + await _remaining(session, running.cursor)
        return report
    total = await _remaining(session, None)
    run_id = new_id("lrv")
    await session.execute(
        _r.insert().values(
            id=run_id,
            rules_version=bank_links.RULES_VERSION,
            status="running",
            cursor=None,
            reviewed=0,
            suspended=0,
            notified=0,
            total_at_start=total,
            started_at=now,
            updated_at=now,
        )
    )
    return ReviewReport(run_id, dry_run=False, total=total)


async def _remaining(session: AsyncSession, cursor: str | None) -> int:
    query = select(func.count()).select_from(_b).where(weak())
    if cursor is not None:
        query = query.where(_b.c.id > cursor)
    return int(await session.scalar(query) or 0)


def _copy_counts(report: ReviewReport, run: Any) -> None:
    report.reviewed, report.suspended, report.notified = int(run.reviewed), int(run.suspended), int(run.notified)


async def _review_batch(session: AsyncSession, runtime: TxnRuntime, report: ReviewReport, batch: int) -> bool:
    """One batch under the run's lock; whether the run is finished."""
    now = runtime.clock.now()
    run = (await session.execute(select(_r).where(_r.c.id == report.run_id).with_for_update())).one()
    _copy_counts(report, run)  # another run process may have done batches meanwhile
    if run.status != "running":
        report.total = report.reviewed
        return True
    query = select(_b).where(weak()).order_by(_b.c.id).limit(batch).with_for_update()
    if run.cursor is not None:
        query = query.where(_b.c.id > run.cursor)
    rows = (await session.execute(query)).all()
    if not rows:
        await session.execute(
            _r.update().where(_r.c.id == run.id).values(status="done", updated_at=now, finished_at=now)
        )
        report.total = report.reviewed
        return True
    notified = 0
    for row in rows:
        notified += await _suspend(session, runtime, row, run.id, now)
    report.reviewed += len(rows)
    report.suspended += len(rows)
    report.notified += notified
    await session.execute(
        _r.update()
        .where(_r.c.id == run.id)
        .values(
            cursor=rows[-1].id,
            reviewed=report.reviewed,
            suspended=report.suspended,
            notified=report.notified,
            updated_at=now,
        )
    )
    report.total = report.reviewed + await _remaining(session, rows[-1].id)
    return False


async def _suspend(session: AsyncSession, runtime: TxnRuntime, row: Any, run_id: str, now: datetime) -> int:
    """Suspend the link, tell its owner and fraud; 1 when a notice was queued (0: auth knows no such customer)."""
    found = weaknesses(row)
    await session.execute(
        _b.update()
        .where(_b.c.id == row.id)
        .values(
            status=bank_links.SUSPENDED,
            status_changed_at=now,
            status_reason=("weaker rules than today's: " + ", ".join(found))[:200],
        )
    )
    await record_event(
        runtime.outbox,
        session,
        type="bank_link_suspended",
        occurred_at=now,
        customer_id=row.customer_id,
        outcome="reverification_required",
        data={"bank_account": row.account_digest, "link_id": row.id, "weaknesses": found, "review_run": run_id},
    )
    try:
        contacts = await runtime.auth.contacts(row.customer_id)
    except CustomerNotFound:
        return 0
    await send_notification(
        runtime.outbox,
        session,
        key=f"bank_link_suspended:{row.id}",
        event_type=EventType.BANK_LINK_SUSPENDED,
        data=BankLinkSuspendedData.model_construct(
            at=now,
            bank_name=row.bank_name,
            branch_code=row.branch_code,
            account_number=bank_links.account_of(runtime.cipher, row).account_number,
            service_name=runtime.settings.txn_service_name,
        ),
        customer_id=row.customer_id,
        language=contacts.language,
        email=contacts.email,
        phone=contacts.phone,
        once=True,
    )
    return 1
