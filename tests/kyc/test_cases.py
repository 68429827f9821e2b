"""The case state machine alone: which moves are legal, and that a refusal needs a reason. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.kyc.cases import OPEN, IllegalTransition, Status, can_move, move, opened
from shared.problems import Problem

AT = datetime(2026, 12, 1, tzinfo=UTC)
LEGAL = {
    (Status.SUBMITTED, Status.CHECKING),
    (Status.CHECKING, Status.APPROVED),
    (Status.CHECKING, Status.REJECTED),
    (Status.CHECKING, Status.MANUAL_REVIEW),
    (Status.MANUAL_REVIEW, Status.APPROVED),
    (Status.MANUAL_REVIEW, Status.REJECTED),
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_only_the_drawn_moves_are_legal(current: Status, target: Status) -> None:
    assert can_move(current, target) == ((current, target) in LEGAL)
    if (current, target) in LEGAL:
        made = move(current, target, actor="stf_1", at=AT, reason="why")
        assert (made.from_status, made.to_status, made.actor, made.reason, made.at) == (
            current,
            target,
            "stf_1",
            "why",
            AT,
        )
    else:
        with pytest.raises(IllegalTransition) as refused:
            move(current, target, actor="system", at=AT, reason="why")
        assert refused.value.code == "illegal_transition"


def test_a_decided_case_is_closed_and_a_new_one_is_open() -> None:
    assert opened(actor="customer", at=AT).to_status in OPEN
    assert Status.APPROVED not in OPEN
    assert Status.REJECTED not in OPEN


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_is_refused(reason: str | None) -> None:
    with pytest.raises(Problem) as refused:
        move(Status.MANUAL_REVIEW, Status.REJECTED, actor="stf_1", at=AT, reason=reason)
    assert refused.value.code == "reason_required"
