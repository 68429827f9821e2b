"""Actions on detection (RESP-1, RESP-3): a case, the customer told, the account locked, the device and IP denied.

fraud alone, for what fraud does in its own transaction (the case, the deny list, the messages its outbox holds
for auth); the whole system through the gateway, for what the customer sees (the notice, the lock).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sekisho.sinks import SmsSink, SmtpSink
from services.fraud import actions, models
from services.fraud.app import create_app
from services.fraud.device_digests import device_digest
from services.fraud.features import ScoreContext
from services.fraud.rules import RuleSetBody
from services.fraud.scoring import Scorer
from shared.clock import FrozenClock
from shared.middleware import IDENTITY_HEADER
from shared.outbox import PAYLOAD_CONTEXT
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import PHONE, full_login, login
from tests.fraud.test_scoring import HOME_IP, NOW, OFFICE_IP, Fraud, rules_of
from tests.harness import Backend, System, client_for, identity_issuer, migrate, running
from tests.servers import eventually, eventually_async

DENY_LIST_RULE = {"id": "deny_list", "kind": "deny_list", "weight": 100, "reason": "on the deny list ({lists})"}


def at_maximum(actions: list[str], *, rule_id: str = "takeover", weight: int = 50) -> dict[str, Any]:
    """A rule that hits a first withdrawal at the line's maximum, with no history needed."""
    return {
        "id": rule_id,
        "kind": "first_at_maximum",
        "weight": weight,
        "reason": "first withdrawal at the maximum",
        "operations": ["withdrawal"],
        "actions": actions,
    }


async def create_live_rule_set(app: FastAPI, rules: list[dict[str, Any]]) -> int:
    """A new live version (the old one retired), as activating a rule set leaves the table; the scorer reads it
    at once."""
    body = RuleSetBody.model_validate({"thresholds": {"step_up": 30, "review": 60, "deny": 85}, "rules": rules})
    state = app.state.service
    now = state.clock.now()
    r = models.rule_set
    async with state.database.transaction() as session:
        version = int((await session.execute(select(func.max(r.c.version)))).scalar_one()) + 1
        await session.execute(r.update().where(r.c.status == "live").values(status="retired", retired_at=now))
        await session.execute(
            r.insert().values(
                version=version,
                status="live",
                body=body.model_dump_json(),
                note="test rules",
                created_by="stf_test",
                created_at=now,
                activated_by="stf_test",
                activated_at=now,
            )
        )
    scorer: Scorer = state.runtime.scorer
    scorer.rule_set.forget()
    return version


@pytest.fixture
async def fraud(backend: Backend) -> AsyncIterator[Fraud]:
    await migrate(backend, "fraud")
    clock = FrozenClock(NOW)
    app = create_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        yield Fraud(app, clock, client)


async def rows(app: FastAPI, table: Any, *where: Any) -> list[Any]:
    async with app.state.service.database.transaction() as session:
        return list((await session.execute(select(table).where(*where))).all())


async def messages_to_auth(app: FastAPI) -> dict[str, dict[str, Any]]:
    """fraud's outbox messages for auth's fraud-actions route, by key, with their payload opened."""
    state = app.state.service
    found = await rows(app, models.outbox, models.outbox.c.path.like("/internal/customers/%"))
    return {
        row.idempotency_key: {"path": row.path, **json.loads(state.cipher.open(row.payload, context=PAYLOAD_CONTEXT))}
        for row in found
    }


# ---- fraud alone ----------------------------------------------------------------------------------------------------


@pytest.mark.req("RESP-1", "RESP-3")
async def test_a_hit_asks_auth_to_notify_and_lock_through_the_outbox_and_opens_a_case(fraud: Fraud) -> None:
    await create_live_rule_set(
        fraud.app, [at_maximum(["open_case", "notify_customer", "lock_account", "revoke_sessions"])]
    )
    answer = await fraud.score("withdrawal", amount=100000, max_amount=100000)
    assert rules_of(answer) == {"takeover"}
    case_id = answer["case_id"]
    assert case_id is not None
    score_id = answer["score_id"]
    sent = await messages_to_auth(fraud.app)
    assert set(sent) == {f"fraud:{score_id}:notify", f"fraud:{score_id}:lock"}  # the lock ends the sessions too
    path = "/internal/customers/cus_hanako/fraud-actions"
    assert sent[f"fraud:{score_id}:notify"] == {
        "path": path,
        "action": "notify_suspicious",
        "summary": "first withdrawal at the maximum",
        "score_id": score_id,
        "case_id": case_id,
    }
    assert sent[f"fraud:{score_id}:lock"]["action"] == "lock"
    (case,) = await rows(fraud.app, models.case)
    assert (case.id, case.status, case.score_id, case.operation, case.customer_id) == (
        case_id,
        "open",
        score_id,
        "withdrawal",
        "cus_hanako",
    )
    assert (case.ip, case.score) == (HOME_IP, 50)
    assert json.loads(case.reasons) == answer["reasons"]
    done = {entry["action"]: entry for entry in json.loads(case.actions)}
    assert set(done) == {"open_case", "notify_customer", "lock_account", "revoke_sessions"}
    assert done["lock_account"]["result"] == "asked auth to lock"
    assert done["revoke_sessions"]["result"] == "done by lock_account"


@pytest.mark.req("RESP-1", "RESP-3")
async def test_one_score_never_acts_twice(fraud: Fraud) -> None:
    await create_live_rule_set(fraud.app, [at_maximum(["open_case", "notify_customer", "deny_device"]), DENY_LIST_RULE])
    state = fraud.app.state.service
    context = ScoreContext(
        operation="withdrawal",
        at=fraud.clock.now(),
        customer_id="cus_hanako",
        device_key="phone-x",
        amount=100000,
        max_amount=100000,
    )
    async with state.database.transaction() as session:
        record = await state.runtime.scorer.score(session, context, {"operation": "withdrawal"})
        first = await actions.react(session, state.runtime, record)
        again = await actions.react(session, state.runtime, record)
    assert [entry["action"] for entry in first] == ["open_case", "notify_customer", "deny_device"]
    assert again == []
    assert len(await rows(fraud.app, models.case)) == 1
    assert len(await messages_to_auth(fraud.app)) == 1
    assert len(await rows(fraud.app, models.list_entry)) == 1


@pytest.mark.req("RESP-3")
async def test_without_a_customer_the_customer_actions_are_skipped_and_the_rest_done(fraud: Fraud) -> None:
    await create_live_rule_set(fraud.app, [at_maximum(["open_case", "notify_customer", "lock_account"])])
    answer = await fraud.score("withdrawal", customer_id=None, amount=100000, max_amount=100000)
    assert answer["case_id"] is not None
    assert await messages_to_auth(fraud.app) == {}
    (case,) = await rows(fraud.app, models.case)
    assert case.customer_id is None
    results = {entry["action"]: entry["result"] for entry in json.loads(case.actions)}
    assert results["notify_customer"] == results["lock_account"] == "skipped: no customer"


@pytest.mark.req("RESP-3")
async def test_a_deny_or_review_outcome_opens_a_case_though_no_rule_asks_for_one(fraud: Fraud) -> None:
    await create_live_rule_set(
        fraud.app, [at_maximum([], rule_id="big", weight=90), at_maximum([], rule_id="small", weight=40)]
    )
    denied = await fraud.score("withdrawal", amount=100000, max_amount=100000)
    assert (denied["action"], denied["score"]) == ("deny", 100)
    assert denied["case_id"] is not None
    await create_live_rule_set(fraud.app, [at_maximum([], rule_id="small", weight=40)])
    stepped_up = await fraud.score("withdrawal", amount=100000, max_amount=100000)
    assert stepped_up["action"] == "step_up"
    assert stepped_up["case_id"] is None
    (case,) = await rows(fraud.app, models.case)
    assert case.id == denied["case_id"]
    assert json.loads(case.actions) == [
        {"action": "open_case", "rules": [], "result": "opened (the outcome is deny)", "case_id": case.id}
    ]


@pytest.mark.req("RESP-3")
async def test_deny_device_and_deny_ip_list_them_for_30_days_and_the_next_score_hits_the_deny_list(
    fraud: Fraud,
) -> None:
    await create_live_rule_set(fraud.app, [at_maximum(["deny_device", "deny_ip"]), DENY_LIST_RULE])
    first = await fraud.score("withdrawal", amount=100000, max_amount=100000, device_key="phone-x", ip=OFFICE_IP)
    assert "deny_list" not in rules_of(first)
    assert first["case_id"] is None  # no open_case asked, and the outcome is step_up
    entries = {row.list: row for row in await rows(fraud.app, models.list_entry)}
    assert set(entries) == {"devices", "ips"}
    assert (entries["devices"].value, entries["ips"].value) == (device_digest("phone-x"), f"{OFFICE_IP}/32")
    for entry in entries.values():
        assert (entry.kind, entry.source) == ("deny", "rule:takeover")
        assert entry.expires_at == NOW + timedelta(days=30)
        assert first["score_id"] in entry.note

    from_the_device = await fraud.score("login", device_key="phone-x", ip=HOME_IP)
    assert "deny_list" in rules_of(from_the_device)
    assert "on the deny list (device)" in from_the_device["summary"]
    from_the_ip = await fraud.score("login", device_key="phone-y", ip=OFFICE_IP)
    assert "on the deny list (ip)" in from_the_ip["summary"]
    assert from_the_ip["action"] == "deny"

    # Another hit on values already listed adds nothing: the entry in force stands, with its own expiry.
    await fraud.score("withdrawal", amount=100000, max_amount=100000, device_key="phone-x", ip=OFFICE_IP)
    assert len(await rows(fraud.app, models.list_entry)) == 2

    fraud.clock.advance(days=30, seconds=1)
    fraud.app.state.service.runtime.scorer.lists.forget()  # the cache is read again within a second anyway
    assert "deny_list" not in rules_of(await fraud.score("login", device_key="phone-x", ip=OFFICE_IP))


# ---- the whole system ----------------------------------------------------------------------------------------------


def as_service(system: System, caller: str, audience: str) -> httpx.AsyncClient:
    client = client_for(system.apps[audience])
    client.headers[IDENTITY_HEADER] = identity_issuer(caller, system.clock).issue(audience)
    return client


def subjects(smtp: SmtpSink) -> list[str]:
    return [str(message["Subject"]) for message in smtp.to(CUSTOMER["email"])]


@pytest.mark.req("RESP-1", "RESP-3")
async def test_the_customer_is_told_and_cannot_log_in_after_a_rule_that_locks_hits(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await system.gateway.get("/v1/me", headers=headers)).status_code == 200
    await create_live_rule_set(system.apps["fraud"], [at_maximum(["open_case", "notify_customer", "lock_account"])])

    async with as_service(system, "gateway", "fraud") as fraud:
        scored = await fraud.post(
            "/score",
            json={"operation": "withdrawal", "customer_id": customer_id, "amount": 100000, "max_amount": 100000},
        )
    assert scored.status_code == 200, scored.text
    assert scored.json()["case_id"] is not None

    # The notice of this rule (the password typed on a new phone at sign-in had one of the same kind before it).
    def rule_notices() -> list[str]:
        found = (m.get_content() for m in smtp.to(CUSTOMER["email"]) if "ご利用内容の確認" in str(m["Subject"]))
        return [content for content in found if "first withdrawal at the maximum" in content]

    await eventually(lambda: len(rule_notices()) == 1)
    await eventually(lambda: any("ロック" in s for s in subjects(smtp)))
    await eventually(lambda: sum(1 for m in sms.received if m.to == PHONE and "普段と異なるご利用" in m.body) == 1)

    refused = await login(system.gateway)
    assert refused.status_code == 423
    assert refused.json()["code"] == "account_locked"
    system.clock.advance(6)  # type: ignore[attr-defined]  # the gateway believes a session for a few seconds
    ended = await system.gateway.get("/v1/me", headers=headers)
    assert ended.status_code == 401


@pytest.mark.req("RESP-3")
async def test_auth_applies_a_fraud_action_once_and_only_when_fraud_asks(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    path = f"/internal/customers/{customer_id}/fraud-actions"
    body = {"action": "revoke_sessions", "summary": "mule phone", "score_id": "scr_test_1"}
    async with as_service(system, "gateway", "auth") as gateway:
        assert (await gateway.post(path, json=body)).status_code == 403
    first_tokens = await full_login(system, sms)
    async with as_service(system, "fraud", "auth") as fraud:
        first = await fraud.post(path, json=body)
        assert first.status_code == 200, first.text
        assert first.json() == {"done": True, "action": "revoke_sessions", "already": False, "sessions_ended": 1}
        second_tokens = await full_login(system, sms, device="device-ipad-0002")
        again = await fraud.post(path, json=body)  # a redelivery, after the customer logged in again
        assert again.json() == {"done": True, "action": "revoke_sessions", "already": True}
        unknown = await fraud.post("/internal/customers/cus_nobody/fraud-actions", json=body)
        assert (unknown.status_code, unknown.json()) == (200, {"done": False, "reason": "unknown customer"})
        anonymous = await fraud.post(path, json={"action": "lock", "summary": "x"})
        assert anonymous.status_code == 422
        extra = await fraud.post(path, json={**body, "note": "x"})
        assert extra.status_code == 422
        too_long = await fraud.post(path, json={**body, "summary": "x" * 301})
        assert too_long.status_code == 422
    system.clock.advance(6)  # type: ignore[attr-defined]
    old = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {first_tokens['access_token']}"})
    new = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {second_tokens['access_token']}"})
    assert (old.status_code, new.status_code) == (401, 200)

    fraud_app = system.apps["fraud"]
    e = models.event

    async def recorded_once() -> bool:
        return len(await rows(fraud_app, e, e.c.type == "fraud_action_applied", e.c.customer_id == customer_id)) == 1

    await eventually_async(recorded_once)
    (event,) = await rows(fraud_app, e, e.c.type == "fraud_action_applied")
    assert json.loads(event.data)["action"] == "revoke_sessions"
