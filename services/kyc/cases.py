"""The verification case's state machine, pure: which status may follow which, and who may move it.

    submitted ──► checking ──► approved
                     │    └──► rejected
                     └──► manual_review ──► approved | rejected

A case is open until it is approved or rejected; a customer has at most one open case. Every move is a
`Transition` (who, why, when), which the caller appends to the case's history; an illegal move raises
`IllegalTransition`, never silently changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.problems import Problem


class Status(StrEnum):
    SUBMITTED = "submitted"
    CHECKING = "checking"
    MANUAL_REVIEW = "manual_review"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN = frozenset({Status.SUBMITTED, Status.CHECKING, Status.MANUAL_REVIEW})
DECIDED = frozenset({Status.APPROVED, Status.REJECTED})

_NEXT: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.CHECKING}),
    Status.CHECKING: frozenset({Status.APPROVED, Status.REJECTED, Status.MANUAL_REVIEW}),
    Status.MANUAL_REVIEW: frozenset({Status.APPROVED, Status.REJECTED}),
    Status.APPROVED: frozenset(),
    Status.REJECTED: frozenset(),
}

SYSTEM = "system"
CUSTOMER = "customer"


class IllegalTransition(Problem):
    status = 409
    code = "illegal_transition"


@dataclass(frozen=True)
class Transition:
    from_status: Status | None  # None: the case was opened
    to_status: Status
    actor: str  # SYSTEM, CUSTOMER or a staff id
    reason: str | None
    at: datetime


def can_move(current: Status, target: Status) -> bool:
    return target in _NEXT[current]


def opened(*, actor: str, at: datetime, reason: str | None = None) -> Transition:
    return Transition(None, Status.SUBMITTED, actor, reason, at)


def move(current: Status, target: Status, *, actor: str, at: datetime, reason: str | None = None) -> Transition:
    """The transition from `current` to `target`, or IllegalTransition. A decision needs a reason when it refuses:
    the customer is told why."""
    if not can_move(current, target):
        raise IllegalTransition(
            f"A {current.value} verification cannot become {target.value}.",
            current=current.value,
            target=target.value,
        )
    if target is Status.REJECTED and not (reason and reason.strip()):
        raise Problem("A rejection needs a reason.", code="reason_required", status=422)
    return Transition(current, target, actor, reason, at)
