"""Rule-set versions (MON-3): drafts written by staff, one live version, every version kept as it was written.

A version never changes once created: to change a draft, staff create a new draft. That is how every
change stays visible with who made it, when and why. Activating a draft makes it live and retires the
version that was live, in one transaction; this replica's scorer reads it at its next score, the others
within scoring.REFRESH_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import models
from services.fraud.rules import LIBRARY, RuleSetBody, template_problem
from shared.problems import Problem

# Parameters a condition divides by: zero would make /score fail for everyone.
_DIVISORS = frozenset({"network_divisor"})


class RuleSetNotFound(Problem):
    status = 404
    code = "rule_set_not_found"


class RuleSetNotDraft(Problem):
    status = 409
    code = "rule_set_not_draft"


class InvalidRuleSet(Problem):
    status = 422
    code = "validation_failed"


@dataclass(frozen=True)
class RuleSetVersion:
    version: int
    status: str  # draft | live | retired
    note: str
    created_by: str
    created_at: datetime
    activated_by: str | None
    activated_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class RuleSet(RuleSetVersion):
    body: RuleSetBody


@dataclass(frozen=True)
class Activation:
    activated: RuleSetVersion
    retired: RuleSetVersion | None  # None only when no version was live (a hand-edited database)


@dataclass(frozen=True)
class LibraryKind:
    kind: str
    defaults: dict[str, Any]
    description: str


def library() -> list[LibraryKind]:
    """The conditions a rule can name, with their parameters' defaults: what a draft is written from."""
    return [LibraryKind(name, dict(kind.defaults), kind.about) for name, kind in sorted(LIBRARY.items())]


def _summary_columns() -> list[Any]:
    r = models.rule_set
    return [
        r.c.version,
        r.c.status,
        r.c.note,
        r.c.created_by,
        r.c.created_at,
        r.c.activated_by,
        r.c.activated_at,
        r.c.retired_at,
    ]


def _version_of(row: Any) -> RuleSetVersion:
    return RuleSetVersion(
        version=row.version,
        status=row.status,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        activated_by=row.activated_by,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
    )


async def list_versions(session: AsyncSession) -> list[RuleSetVersion]:
    """Every version, newest first."""
    rows = (await session.execute(select(*_summary_columns()).order_by(models.rule_set.c.version.desc()))).all()
    return [_version_of(row) for row in rows]


async def load_rule_set(session: AsyncSession, *, version: int) -> RuleSet:
    r = models.rule_set
    row = (await session.execute(select(*_summary_columns(), r.c.body).where(r.c.version == version))).first()
    if row is None:
        raise RuleSetNotFound(f"There is no rule set version {version}.")
    return RuleSet(**vars(_version_of(row)), body=RuleSetBody.model_validate_json(row.body))


def parameter_violations(body: RuleSetBody) -> list[dict[str, str]]:
    """Reason templates that are not plain `{name}` substitutions (rules.template_problem), and parameters whose
    values are not of their default's type (a number, a list of names), or would break the condition: refused when
    the draft is written, not found out when /score fails with it. Field paths are those the request validation
    gives (shared/problems.py)."""
    found: list[dict[str, str]] = []
    for index, rule in enumerate(body.rules):
        template = template_problem(rule.reason)
        if template is not None:
            found.append({"field": f"rules.{index}.reason", "code": "invalid_template", "message": template})
        defaults = LIBRARY[rule.kind].defaults
        for name, value in rule.params.items():
            expected = defaults[name]
            if isinstance(expected, list):
                ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
                wanted = "a list of names"
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
                if ok and name in _DIVISORS:
                    ok = value >= 1
                wanted = "a number of at least 1" if name in _DIVISORS else "a number of at least 0"
            if not ok:
                found.append(
                    {
                        "field": f"rules.{index}.params.{name}",
                        "code": "invalid_parameter",
                        "message": f"{name} of {rule.kind} must be {wanted}.",
                    }
                )
    return found


async def _lock(session: AsyncSession) -> None:
    """One change of rule sets at a time.

    On PostgreSQL a lock on the live row alone is not enough: a second activation waiting for it finds,
    once the first commits, that row retired and the new live one outside its statement's snapshot, and
    would make a second live version. EXCLUSIVE mode queues writers of rule_set and lets /score read on.
    On SQLite every transaction already begins IMMEDIATE, holding the database's one write lock
    (shared/database.py)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("LOCK TABLE rule_set IN EXCLUSIVE MODE"))


async def create_draft(
    session: AsyncSession, *, body: RuleSetBody, note: str, created_by: str, now: datetime
) -> RuleSetVersion:
    """A new draft with the next version number. Versions are immutable: a change to a draft is a new draft."""
    violations = parameter_violations(body)
    if violations:
        raise InvalidRuleSet(f"The rule set has {len(violations)} invalid value(s).", violations=violations)
    await _lock(session)
    r = models.rule_set
    version = int((await session.execute(select(func.coalesce(func.max(r.c.version), 0)))).scalar_one()) + 1
    await session.execute(
        r.insert().values(
            version=version,
            status="draft",
            body=body.model_dump_json(),
            note=note,
            created_by=created_by,
            created_at=now,
        )
    )
    return RuleSetVersion(version, "draft", note, created_by, now, None, None, None)


async def activate(session: AsyncSession, *, version: int, by: str, now: datetime) -> Activation:
    """The draft becomes live and the live version retired, together; a live or retired version cannot be
    activated again (restoring an old rule set is a new draft with its body)."""
    await _lock(session)
    r = models.rule_set
    row = (await session.execute(select(*_summary_columns()).where(r.c.version == version))).first()
    if row is None:
        raise RuleSetNotFound(f"There is no rule set version {version}.")
    if row.status != "draft":
        raise RuleSetNotDraft(
            f"Version {version} is {row.status}; only a draft can be activated (post its body as a new draft)."
        )
    retired = (
        await session.execute(
            update(r)
            .where(r.c.status == "live")
            .values(status="retired", retired_at=now)
            .returning(*_summary_columns())
        )
    ).all()
    await session.execute(
        update(r).where(r.c.version == version).values(status="live", activated_by=by, activated_at=now)
    )
    activated = RuleSetVersion(**{**vars(_version_of(row)), "status": "live", "activated_by": by, "activated_at": now})
    return Activation(activated, _version_of(retired[0]) if retired else None)
