"""Staff routes on rule sets, reached through the gateway's /v1/ops/fraud/rule-sets... (MON-3): the versions, the
library of conditions drafts are written from, new drafts, activation and backtests. Every read and change is
audited (SEC-6); the role is checked here again although the gateway checked it first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from services.fraud import backtest, rule_sets
from services.fraud.rules import RuleSetBody
from services.fraud.runtime import fraud_runtime
from services.fraud.schemas import BacktestReportView
from shared.audit import audit_staff
from shared.database import on_commit
from shared.dependencies import IdentityDep, SessionDep, StateDep
from shared.identity import ServiceIdentity
from shared.problems import STAFF_ROUTE_PROBLEMS, problem_responses
from shared.roles import require_staff
from shared.service import ServiceState

router = APIRouter(prefix="/internal/ops", tags=["rule sets"])

# A version as a path names it: a positive number that fits the rule_set.version column (a 32-bit INTEGER). A larger
# one is no version and gets 422 here: bound to PostgreSQL's query it failed in the driver, a 500 (`make fuzz`).
VERSION_MAX = 2**31 - 1
Version = Annotated[int, Path(ge=1, le=VERSION_MAX, description="A rule set's version number.")]

# A backtest through the API answers within the gateway's timeout; longer periods run from the command line.
API_LONGEST_BACKTEST = timedelta(days=31)


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: RuleSetBody
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RuleSetView(BaseModel):
    version: int
    status: str
    note: str
    created_by: str
    created_at: datetime
    activated_by: str | None
    activated_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, found: rule_sets.RuleSetVersion) -> RuleSetView:
        return cls(
            version=found.version,
            status=found.status,
            note=found.note,
            created_by=found.created_by,
            created_at=found.created_at,
            activated_by=found.activated_by,
            activated_at=found.activated_at,
            retired_at=found.retired_at,
        )


class RuleSetDetail(RuleSetView):
    body: RuleSetBody


class RuleSetList(BaseModel):
    rule_sets: list[RuleSetView]


class ActivationView(BaseModel):
    activated: RuleSetView
    retired: RuleSetView | None


class LibraryKindView(BaseModel):
    kind: str
    defaults: dict[str, Any]
    description: str


class LibraryView(BaseModel):
    kinds: list[LibraryKindView]


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    until: AwareDatetime


@router.get(
    "/rule-sets",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def list_rule_sets(session: SessionDep, state: StateDep, identity: IdentityDep) -> RuleSetList:
    """Every version, newest first, without bodies (analyst)."""
    require_staff(identity, "analyst")
    found = await rule_sets.list_versions(session)
    await _audit(session, state, identity, "fraud_rule_set.list", "*", {"count": len(found)})
    return RuleSetList(rule_sets=[RuleSetView.of(version) for version in found])


@router.get(
    "/rules/library",
    responses=problem_responses(
        (401, "unauthorized"), (403, "forbidden"), (503, "service_unavailable"), (504, "upstream_timeout")
    ),
)
async def rule_library(session: SessionDep, state: StateDep, identity: IdentityDep) -> LibraryView:
    """The conditions a rule can name, with their default parameters and what they check (analyst)."""
    require_staff(identity, "analyst")
    kinds = rule_sets.library()
    await _audit(session, state, identity, "fraud_rule_library.view", "*", {"count": len(kinds)})
    return LibraryView(
        kinds=[LibraryKindView(kind=k.kind, defaults=k.defaults, description=k.description) for k in kinds]
    )


@router.get(
    "/rule-sets/{version}",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "rule_set_not_found"),
    ),
)
async def get_rule_set(version: Version, session: SessionDep, state: StateDep, identity: IdentityDep) -> RuleSetDetail:
    """One version with its body (analyst)."""
    require_staff(identity, "analyst")
    found = await rule_sets.load_rule_set(session, version=version)
    await _audit(session, state, identity, "fraud_rule_set.view", str(version), {"status": found.status})
    return RuleSetDetail(**RuleSetView.of(found).model_dump(), body=found.body)


@router.post(
    "/rule-sets",
    status_code=201,
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (422, "validation_failed"),
    ),
)
async def create_rule_set(body: DraftIn, session: SessionDep, state: StateDep, identity: IdentityDep) -> RuleSetView:
    """A new draft with the next version number (supervisor). Versions are immutable once created: to change a
    draft, post a new one; every change is kept that way, with who made it and why."""
    staff_id = require_staff(identity, "supervisor")
    created = await rule_sets.create_draft(
        session, body=body.body, note=body.note, created_by=staff_id, now=state.clock.now()
    )
    detail = {"note": body.note, "rules": [rule.id for rule in body.body.rules if rule.enabled]}
    await _audit(session, state, identity, "fraud_rule_set.create", str(created.version), detail)
    return RuleSetView.of(created)


@router.post(
    "/rule-sets/{version}/activate",
    responses=problem_responses(
        *STAFF_ROUTE_PROBLEMS,
        (404, "rule_set_not_found"),
        (409, "rule_set_not_draft"),
    ),
)
async def activate_rule_set(
    version: Version, session: SessionDep, state: StateDep, identity: IdentityDep
) -> ActivationView:
    """The draft goes live and the live version is retired, together (admin: what blocks customers changes).
    A live or retired version cannot be activated again: post its body as a new draft to bring it back."""
    staff_id = require_staff(identity, "admin")
    done = await rule_sets.activate(session, version=version, by=staff_id, now=state.clock.now())
    # After the commit: a score in between would cache the old rule set for another second.
    on_commit(session, fraud_runtime(state).scorer.rule_set.forget)
    detail = {"retired": done.retired.version if done.retired else None}
    await _audit(session, state, identity, "fraud_rule_set.activate", str(version), detail)
    return ActivationView(
        activated=RuleSetView.of(done.activated),
        retired=RuleSetView.of(done.retired) if done.retired else None,
    )


@router.post(
    "/rule-sets/{version}/backtest",
    # The report's own JSON (backtest.py, also printed by the CLI), described by the model.
    responses={
        200: {"model": BacktestReportView},
        **problem_responses(
            *STAFF_ROUTE_PROBLEMS,
            (404, "rule_set_not_found"),
            (422, "validation_failed"),
        ),
    },
)
async def backtest_rule_set(
    version: Version, body: BacktestIn, session: SessionDep, state: StateDep, identity: IdentityDep
) -> JSONResponse:
    """What this version would have flagged over [since, until) (at most 31 days), against the labels of resolved
    cases: counts per action, the confusion matrix, precision, recall, hits and examples per rule (analyst)."""
    require_staff(identity, "analyst")
    backtest.check_period(body.since, body.until, longest=API_LONGEST_BACKTEST)
    # Pages in their own short reads, not in this request's transaction: on SQLite that one would hold the
    # write lock, and event intake with it, for the whole replay.
    report = await backtest.backtest_version(
        state.database.reading, version=version, since=body.since, until=body.until
    )
    detail = {
        "since": body.since.isoformat(),
        "until": body.until.isoformat(),
        "events": report.events,
        "flagged": report.flagged,
        "customers": report.customers_shown(),
    }
    await _audit(session, state, identity, "fraud_rule_set.backtest", str(version), detail)
    return JSONResponse(report.to_json())


async def _audit(
    session: AsyncSession, state: ServiceState, identity: ServiceIdentity, action: str, target: str, detail: Any
) -> None:
    await audit_staff(
        session, state, identity, action=action, target_type="fraud_rule_set", target_id=target, detail=detail
    )
