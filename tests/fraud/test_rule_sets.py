"""Rule-set versions through the gateway (MON-3): drafts by supervisors, activation by admins, one live version,
every version kept, /score on the new version at once; and a backtest by an analyst."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.fraud import models, rule_sets
from services.fraud.rules import LIBRARY, RuleSetBody
from services.fraud.scoring import default_rule_set
from shared.database import Database, target_for
from shared.middleware import IDENTITY_HEADER
from tests.fraud.test_ops_api import Headers, audited, hour_ago, put_events, staff
from tests.harness import Backend, System, client_for, identity_issuer, migrate

RULE_SETS = "/v1/ops/fraud/rule-sets"


def draft_body(**thresholds: int) -> dict[str, Any]:
    """The shipped rules, with other thresholds: a draft as staff would write one from the live version."""
    body = default_rule_set().model_dump(mode="json")
    body["thresholds"].update(thresholds)
    return body


async def create_draft(system: System, supervisor: Headers, note: str, **thresholds: int) -> dict[str, Any]:
    response = await system.gateway.post(
        RULE_SETS, json={"body": draft_body(**thresholds), "note": note}, headers=supervisor
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def versions(system: System, headers: Headers) -> dict[int, dict[str, Any]]:
    response = await system.gateway.get(RULE_SETS, headers=headers)
    assert response.status_code == 200, response.text
    return {view["version"]: view for view in response.json()["rule_sets"]}


async def scored_version(system: System) -> int:
    """The rule-set version /score answers with now (asked as the gateway asks it)."""
    issuer = identity_issuer("gateway", system.clock)
    async with client_for(system.apps["fraud"]) as fraud:
        response = await fraud.post(
            "/score",
            headers={IDENTITY_HEADER: issuer.issue("fraud")},
            json={"operation": "login", "customer_id": "cus_nobody", "ip": "126.0.0.1"},
        )
    assert response.status_code == 200, response.text
    version: int = response.json()["rule_set_version"]
    return version


@pytest.mark.req("MON-3", "SEC-6")
async def test_a_supervisor_writes_drafts_each_a_new_version_and_every_version_is_kept(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.ueda", "supervisor")
    analyst_id, analyst = await staff(system, "analyst.noda", "analyst")
    _, admin = await staff(system, "admin.oka", "admin")

    first = await create_draft(system, supervisor, "step up sooner", step_up=20)
    assert (first["version"], first["status"], first["created_by"]) == (2, "draft", supervisor_id)
    assert first["note"] == "step up sooner"
    assert first["activated_at"] is None
    second = await create_draft(system, supervisor, "  step up sooner still  ", step_up=15)
    assert (second["version"], second["note"]) == (3, "step up sooner still")

    listed = await system.gateway.get(RULE_SETS, headers=analyst)
    assert listed.status_code == 200
    assert [(v["version"], v["status"]) for v in listed.json()["rule_sets"]] == [
        (3, "draft"),
        (2, "draft"),
        (1, "live"),
    ]
    assert "body" not in listed.json()["rule_sets"][0]

    one = await system.gateway.get(f"{RULE_SETS}/2", headers=analyst)
    assert one.status_code == 200
    assert one.json()["body"] == RuleSetBody.model_validate(draft_body(step_up=20)).model_dump(mode="json")
    assert one.json()["body"]["thresholds"]["step_up"] == 20
    missing = await system.gateway.get(f"{RULE_SETS}/99", headers=analyst)
    assert (missing.status_code, missing.json()["code"]) == (404, "rule_set_not_found")

    library = await system.gateway.get("/v1/ops/fraud/rules/library", headers=analyst)
    assert library.status_code == 200
    kinds = {kind["kind"]: kind for kind in library.json()["kinds"]}
    assert set(kinds) == set(LIBRARY)
    assert kinds["failed_logins"]["defaults"] == {"min_failures": 5}
    assert kinds["shared_device"]["description"] == "one device used by many customers (mule phones)"

    refused = await system.gateway.post(RULE_SETS, json={"body": draft_body(), "note": "mine"}, headers=analyst)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert list(await versions(system, analyst)) == [3, 2, 1]

    created = await audited(system, admin, 2, actor=supervisor_id, action="fraud_rule_set.create")
    assert sorted(entry["target_id"] for entry in created) == ["2", "3"]
    assert {entry["detail"]["note"] for entry in created} == {"step up sooner", "step up sooner still"}
    assert len(await audited(system, admin, 2, actor=analyst_id, action="fraud_rule_set.list")) == 2
    (viewed,) = await audited(system, admin, 1, actor=analyst_id, action="fraud_rule_set.view")
    assert (viewed["target_id"], viewed["detail"]) == ("2", {"status": "draft"})
    (library_read,) = await audited(system, admin, 1, actor=analyst_id, action="fraud_rule_library.view")
    assert library_read["target_type"] == "fraud_rule_set"


@pytest.mark.req("MON-3")
async def test_an_invalid_draft_is_refused_with_every_violation_and_creates_nothing(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.kudo", "supervisor")
    malformed = {
        "thresholds": {"step_up": 30, "review": 60},
        "rules": [
            {"id": "Bad Id!", "kind": "no_such_kind", "weight": 150, "reason": "x"},
            {"id": "fine", "kind": "new_device", "weight": 10, "reason": "new device", "extra": 1},
        ],
    }
    response = await system.gateway.post(RULE_SETS, json={"body": malformed, "note": ""}, headers=supervisor)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_failed"
    fields = {violation["field"] for violation in problem["violations"]}
    assert fields == {
        "thresholds.deny",
        "rules.0.id",
        "rules.0.kind",
        "rules.0.weight",
        "rules.1.extra",
        "note",
    }
    unknown_kind = next(v for v in problem["violations"] if v["field"] == "rules.0.kind")
    assert "unknown kind 'no_such_kind'" in unknown_kind["message"]

    # Well formed, but parameters that would make /score fail for everyone.
    body = draft_body()
    for rule in body["rules"]:
        if rule["kind"] == "failed_logins":
            rule["params"] = {"min_failures": "five"}
        if rule["kind"] == "shared_ip":
            rule["params"] = {"network_divisor": 0}
        if rule["kind"] == "recent_change":
            rule["params"] = {"changes": "phone"}
    bad_params = await system.gateway.post(RULE_SETS, json={"body": body, "note": "typo"}, headers=supervisor)
    assert bad_params.status_code == 422
    index = {rule["kind"]: i for i, rule in enumerate(body["rules"])}
    assert {v["field"] for v in bad_params.json()["violations"]} == {
        f"rules.{index['failed_logins']}.params.min_failures",
        f"rules.{index['shared_ip']}.params.network_divisor",
        f"rules.{index['recent_change']}.params.changes",
    }
    assert list(await versions(system, supervisor)) == [1]


@pytest.mark.req("MON-3", "SEC-6")
async def test_an_admin_activates_a_draft_the_old_version_retires_and_score_answers_with_the_new_one(
    system: System,
) -> None:
    _, supervisor = await staff(system, "supervisor.hara", "supervisor")
    admin_id, admin = await staff(system, "admin.sano", "admin")
    await create_draft(system, supervisor, "step up sooner", step_up=20)
    assert await scored_version(system) == 1  # the scorer holds version 1 now

    by_supervisor = await system.gateway.post(f"{RULE_SETS}/2/activate", headers=supervisor)
    assert (by_supervisor.status_code, by_supervisor.json()["code"]) == (403, "forbidden")
    assert (await versions(system, admin))[2]["status"] == "draft"

    activated = await system.gateway.post(f"{RULE_SETS}/2/activate", headers=admin)
    assert activated.status_code == 200, activated.text
    now = system.clock.now()
    answer = activated.json()
    assert (answer["activated"]["version"], answer["activated"]["status"]) == (2, "live")
    assert answer["activated"]["activated_by"] == admin_id
    assert (answer["retired"]["version"], answer["retired"]["status"]) == (1, "retired")
    # At once on this replica, not a second later: the activation made the scorer read the rule set again.
    assert await scored_version(system) == 2

    after = await versions(system, admin)
    assert [v for v, view in after.items() if view["status"] == "live"] == [2]
    assert after[1]["status"] == "retired"
    assert datetime.fromisoformat(after[1]["retired_at"]) == now
    assert datetime.fromisoformat(after[2]["activated_at"]) == now
    assert after[1]["activated_by"] == "system"  # what it was, kept

    again = await system.gateway.post(f"{RULE_SETS}/2/activate", headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "rule_set_not_draft")
    retired = await system.gateway.post(f"{RULE_SETS}/1/activate", headers=admin)
    assert (retired.status_code, retired.json()["code"]) == (409, "rule_set_not_draft")
    assert retired.headers["content-type"].startswith("application/problem+json")
    missing = await system.gateway.post(f"{RULE_SETS}/99/activate", headers=admin)
    assert missing.status_code == 404

    (entry,) = await audited(system, admin, 1, actor=admin_id, action="fraud_rule_set.activate")
    assert (entry["target_id"], entry["detail"]) == ("2", {"retired": 1})


@pytest.mark.req("MON-3")
async def test_activations_at_the_same_time_leave_exactly_one_live_version(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.mori", "supervisor")
    _, admin = await staff(system, "admin.iida", "admin")
    for step_up in (20, 21, 22):
        await create_draft(system, supervisor, f"step up at {step_up}", step_up=step_up)

    both = await asyncio.gather(
        system.gateway.post(f"{RULE_SETS}/2/activate", headers=admin),
        system.gateway.post(f"{RULE_SETS}/3/activate", headers=admin),
    )
    assert [response.status_code for response in both] == [200, 200]  # one after the other
    statuses = {v: view["status"] for v, view in (await versions(system, admin)).items()}
    assert list(statuses.values()).count("live") == 1
    assert statuses[1] == "retired"
    assert {statuses[2], statuses[3]} == {"live", "retired"}

    twice = await asyncio.gather(*(system.gateway.post(f"{RULE_SETS}/4/activate", headers=admin) for _ in range(2)))
    assert sorted(response.status_code for response in twice) == [200, 409]
    statuses = {v: view["status"] for v, view in (await versions(system, admin)).items()}
    assert statuses == {4: "live", 3: "retired", 2: "retired", 1: "retired"}


@pytest.mark.req("MON-3")
async def test_a_second_activation_waits_for_the_first_and_retires_what_it_made_live(backend: Backend) -> None:
    """The interleaving that makes two live versions without a lock: the second activation starts while the
    first has retired the old live version and not yet committed."""
    await migrate(backend, "fraud")
    database = Database(target_for(backend.settings("fraud"), "fraud"), pool_size=2)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    try:
        async with database.transaction() as session:
            for _ in range(2):
                await rule_sets.create_draft(
                    session, body=default_rule_set(), note="a draft", created_by="stf_s", now=now
                )

        async def activate(version: int) -> rule_sets.Activation:
            async with database.transaction() as session:
                return await rule_sets.activate(session, version=version, by="stf_a", now=now)

        async with database.transaction() as first:
            await rule_sets.activate(first, version=2, by="stf_a", now=now)
            second = asyncio.create_task(activate(3))
            done, _ = await asyncio.wait({second}, timeout=0.5)
            assert not done  # it waits for the first to commit
        activated = await second
        assert activated.retired is not None
        assert activated.retired.version == 2
        async with database.transaction() as session:
            r = models.rule_set
            rows = dict((await session.execute(select(r.c.version, r.c.status))).all())
        assert rows == {1: "retired", 2: "retired", 3: "live"}
    finally:
        await database.dispose()


@pytest.mark.req("MON-3", "SEC-6")
async def test_an_analyst_backtests_a_version_over_at_most_31_days_and_the_run_is_recorded(system: System) -> None:
    analyst_id, analyst = await staff(system, "analyst.imai", "analyst")
    _, admin = await staff(system, "admin.kono", "admin")
    base = hour_ago(system)
    await put_events(
        system,
        {"type": "login_succeeded", "occurred_at": base, "customer_id": "cus_x", "data": {"device_key": "k1"}},
        {
            "type": "withdrawal_requested",
            "occurred_at": base + timedelta(minutes=1),
            "customer_id": "cus_x",
            "data": {"device_key": "k1", "amount": 50000},
        },
        {"type": "login_failed", "occurred_at": base, "customer_id": "cus_x", "outcome": "wrong_password"},
    )
    async with system.apps["fraud"].state.service.database.transaction() as session:
        await session.execute(
            models.case.insert().values(
                id="cas_backtest_1",
                opened_at=base + timedelta(minutes=2),
                status="resolved",
                operation="withdrawal",
                customer_id="cus_x",
                score=40,
                reasons="[]",
                actions="[]",
                label="fraud",
                resolved_at=base + timedelta(hours=1),
                resolved_by="stf_x",
                note="confirmed",
            )
        )
    period = {"since": (base - timedelta(hours=1)).isoformat(), "until": (base + timedelta(hours=1)).isoformat()}
    response = await system.gateway.post(f"{RULE_SETS}/1/backtest", json=period, headers=analyst)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rule_set_version"] == 1
    assert report["events"] == 2  # a failed login is not a scored operation
    assert (report["labelled"], report["unlabelled"]) == (2, 0)
    confusion = report["confusion"]
    assert confusion["tp"] + confusion["fn"] == 2
    assert confusion["fp"] == confusion["tn"] == 0
    assert set(report["rules"]) == {rule.id for rule in default_rule_set().rules}

    too_long = {"since": (base - timedelta(days=32)).isoformat(), "until": period["until"]}
    refused = await system.gateway.post(f"{RULE_SETS}/1/backtest", json=too_long, headers=analyst)
    assert refused.status_code == 422
    assert [v["field"] for v in refused.json()["violations"]] == ["until"]
    naive = {"since": "2026-11-01T00:00:00", "until": period["until"]}
    assert (await system.gateway.post(f"{RULE_SETS}/1/backtest", json=naive, headers=analyst)).status_code == 422
    missing = await system.gateway.post(f"{RULE_SETS}/99/backtest", json=period, headers=analyst)
    assert missing.status_code == 404
    unsigned = await system.gateway.post(f"{RULE_SETS}/1/backtest", json=period)
    assert unsigned.status_code == 401

    (entry,) = await audited(system, admin, 1, actor=analyst_id, action="fraud_rule_set.backtest")
    assert entry["target_id"] == "1"
    assert entry["detail"]["events"] == 2
    assert entry["detail"]["since"] == period["since"]
    assert set(entry["detail"]["customers"]) <= {"cus_x"}
