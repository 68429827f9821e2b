"""Issue 13 item 10: a rule's reason template is plain `{name}` substitution. A supervisor's template that reaches
Python's internals ("{customer.__class__.__mro__}") or asks for a gigabyte ("{x:>1000000000}") is refused when the
rule set is written (422 naming the field), and what is stored is never run through str.format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.fraud.features import Features, ScoreContext
from services.fraud.rules import RuleConfig, RuleSetBody, Thresholds, evaluate, render_reason
from services.fraud.scoring import default_rule_set
from tests.auth.conftest import system
from tests.fraud.test_ops_api import staff
from tests.harness import System

__all__ = ["system"]

RULE_SETS = "/v1/ops/fraud/rule-sets"

HOSTILE = [
    "{customer.__class__.__mro__}",
    "{failures.__class__.__init__.__globals__}",
    "{failures:>1000000000}",
    "{failures!r}",
    "{0}",
    "{failures[0]}",
    "{}",
    "unbalanced {failures",
]


@pytest.mark.parametrize("template", HOSTILE)
async def test_a_rule_set_with_a_template_beyond_plain_names_is_refused(system: System, template: str) -> None:
    _, supervisor = await staff(system, "supervisor.ueda", "supervisor")
    body: dict[str, Any] = default_rule_set().model_dump(mode="json")
    index = next(i for i, rule in enumerate(body["rules"]) if rule["kind"] == "failed_logins")
    body["rules"][index]["reason"] = template
    response = await system.gateway.post(RULE_SETS, json={"body": body, "note": "x"}, headers=supervisor)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [v["field"] for v in problem["violations"]] == [f"rules.{index}.reason"]
    assert problem["violations"][0]["code"] == "invalid_template"
    listed = await system.gateway.get(RULE_SETS, headers=supervisor)
    assert [v["version"] for v in listed.json()["rule_sets"]] == [1]  # nothing stored

    plain = default_rule_set().model_dump(mode="json")
    plain["rules"][index]["reason"] = "{failures} failed logins ({nothing_like_this})"
    accepted = await system.gateway.post(RULE_SETS, json={"body": plain, "note": "x"}, headers=supervisor)
    assert accepted.status_code == 201, accepted.text


def test_a_stored_template_is_substituted_never_formatted() -> None:
    """A rule set stored before templates were checked renders its text as written, internals never."""
    assert render_reason("{customer.__class__.__mro__}", {"customer": "x"}) == "{customer.__class__.__mro__}"
    assert render_reason("{failures:>1000000000}", {"failures": 3}) == "{failures:>1000000000}"
    assert render_reason("{failures} failures, {unknown}", {"failures": 3}) == "3 failures, {unknown}"
    body = RuleSetBody(
        thresholds=Thresholds(step_up=30, review=60, deny=85),
        rules=[RuleConfig(id="fresh", kind="new_device", weight=10, reason="{x:>1000000000} {__class__}")],
    )
    context = ScoreContext(operation="login", at=datetime.now(UTC), customer_id="cus_1")
    features = Features(context=context, customer_known=True, device_seen_before=False)
    hits = evaluate(body, features).hits
    assert [hit.reason for hit in hits] == ["{x:>1000000000} {__class__}"]
