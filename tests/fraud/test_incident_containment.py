"""Bulk containment of an incident through the gateway (INC-1): customers found by list, network and device in
fraud's events, locked and signed out by auth, recorded on the incident; sent again, nothing doubles."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.fraud import containment
from services.fraud.clients import AuthClient
from shared.contracts.fraud_actions import IncidentActionRequest, IncidentActionResult
from shared.internal_client import ServiceUnavailable
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import full_login, login
from tests.auth.test_password_reset import NEW_PASSWORD, reset_password
from tests.fraud.incident_helpers import desk, open_incident
from tests.fraud.test_ops_api import put_events
from tests.harness import System, identity_issuer
from tests.security.test_service_identity_forgery import call, signed_with
from tests.servers import eventually

GHOST = "cus_00000000000000000000000000"  # in fraud's events, never a customer of auth


async def _customers(system: System) -> dict[str, str]:
    """Three real customers with events: A and B from one network, C on a shared device; and a ghost."""
    a = await open_account(system.gateway)
    b = await open_account(system.gateway, email="b.suzuki@example.jp", phone="090-1111-0002")
    c = await open_account(system.gateway, email="c.takahashi@example.jp", phone="090-1111-0003")
    at = system.clock.now() - timedelta(hours=3)
    await put_events(
        system,
        {"type": "login_succeeded", "occurred_at": at, "customer_id": a, "ip": "203.0.113.7"},
        {"type": "login_failed", "occurred_at": at, "customer_id": b, "ip": "203.0.113.99", "outcome": "wrong"},
        {"type": "login_succeeded", "occurred_at": at, "customer_id": GHOST, "ip": "203.0.113.50"},
        {
            "type": "login_succeeded",
            "occurred_at": at,
            "customer_id": c,
            "ip": "198.51.100.1",
            "data": {"device_key": "key-shared-phone"},
        },
        # Outside the network and the device: never touched.
        {"type": "login_succeeded", "occurred_at": at, "customer_id": "cus_bystander", "ip": "198.51.100.2"},
    )
    return {"a": a, "b": b, "c": c}


def _locked_notices(smtp: SmtpSink, to: str) -> int:
    return sum(1 for m in smtp.to(to) if "ロック" in str(m["Subject"]))


async def test_a_containment_locks_the_customers_of_a_network_and_a_device_once(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    supervisor, analyst, _ = await desk(system)
    customers = await _customers(system)
    tokens = await full_login(system, sms)  # customer A signed in before the containment
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    body = {"ip": "203.0.113.0/24", "device_id": "key-shared-phone", "lock": True, "revoke_sessions": True}

    first = await system.gateway.post(f"{path}/containment", json=body, headers=supervisor)
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["affected"] == 4
    assert result["added"] == 4
    assert result["contained"] == 3
    assert result["failed"] == [{"customer_id": GHOST, "reason": "unknown customer"}]

    # Locked: the password no longer signs them in; the session A had is over.
    for who, email in (("a", CUSTOMER["email"]), ("b", "b.suzuki@example.jp"), ("c", "c.takahashi@example.jp")):
        refused = await login(system.gateway, login_id=email)
        assert refused.status_code == 423, (who, refused.text)
        assert refused.json()["code"] == "account_locked"
    ended = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert ended.status_code == 401

    await eventually(lambda: _locked_notices(smtp, CUSTOMER["email"]) == 1)

    # Sent again: only the failed customer is asked again; nobody is recorded or told twice.
    again = await system.gateway.post(f"{path}/containment", json=body, headers=supervisor)
    assert again.status_code == 200, again.text
    assert again.json()["added"] == 0
    assert again.json()["asked"] == 1
    assert again.json()["contained"] == 0
    listed = await system.gateway.get(f"{path}/customers", headers=supervisor)
    assert listed.status_code == 200
    rows = {row["customer_id"]: row for row in listed.json()["customers"]}
    assert set(rows) == {*customers.values(), GHOST}
    assert rows[customers["a"]]["source"] == "ip"
    assert rows[customers["c"]]["source"] == "device"
    assert rows[GHOST]["status"] == "failed"
    assert all(rows[c]["status"] == "contained" for c in customers.values())
    assert "cus_bystander" not in rows

    shown = (await system.gateway.get(path, headers=analyst)).json()
    assert shown["customers"] == {"affected_customers": 4, "contained": 3, "failed": 1}
    actions = [e for e in shown["timeline"] if e["kind"] == "action"]
    assert len(actions) == 2
    assert actions[0]["data"]["contained"] == 3
    assert actions[0]["data"]["failed_customers"] == [GHOST]
    assert actions[0]["data"]["containment"]["device"].startswith("sha256:")  # never the key
    assert "key-shared-phone" not in str(shown)
    await asyncio.sleep(0.3)
    assert _locked_notices(smtp, CUSTOMER["email"]) == 1

    # A containment of nothing new adds nothing to the timeline.
    listed_only = await system.gateway.post(
        f"{path}/containment", json={"customer_ids": [customers["b"]]}, headers=supervisor
    )
    assert listed_only.json()["asked"] == 0
    again_shown = (await system.gateway.get(path, headers=analyst)).json()
    assert len(again_shown["timeline"]) == len(shown["timeline"])


async def test_invalidated_passwords_no_longer_sign_in_until_the_customer_sets_a_new_one(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    """INC-1 "invalidate the IDs/passwords used": the stolen password stops working, for the owner too, until the
    reset; the answer to it tells only whoever knows it; sent again, nothing is done twice."""
    supervisor, analyst, _ = await desk(system)
    customers = await _customers(system)
    tokens = await full_login(system, sms)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    body = {"customer_ids": [customers["a"], customers["b"], GHOST], "lock": False, "require_password_reset": True}

    done = await system.gateway.post(f"{path}/containment", json=body, headers=supervisor)
    assert done.status_code == 200, done.text
    assert done.json()["passwords_invalidated"] == 2
    assert done.json()["failed"] == [{"customer_id": GHOST, "reason": "unknown customer"}]
    assert (
        await system.gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    refused = await login(system.gateway)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "password_reset_required"
    wrong = await login(system.gateway, password="Wrong-Password-1!")
    assert wrong.status_code == 401
    assert wrong.json()["code"] != "password_reset_required"  # a stranger learns nothing of the incident
    other = await login(system.gateway, login_id="b.suzuki@example.jp")
    assert other.json()["code"] == "password_reset_required"
    untouched = await login(system.gateway, login_id="c.takahashi@example.jp")
    assert untouched.json()["code"] != "password_reset_required"
    viewed = await system.gateway.get(f"/v1/ops/customers/{customers['a']}", headers=analyst)
    assert viewed.json()["password_reset_required"] is True
    timeline = (await system.gateway.get(path, headers=analyst)).json()["timeline"]
    assert [e["data"]["passwords_invalidated"] for e in timeline if e["kind"] == "action"] == [2]

    again = await system.gateway.post(f"{path}/containment", json=body, headers=supervisor)
    assert again.json()["passwords_invalidated"] == 2  # confirmed, not done again
    assert again.json()["asked"] == 1  # the unknown customer alone, retried

    # The owner sets a new password through the reset: it signs in (a second factor follows), the old one never.
    assert (await reset_password(system, smtp, sms)).status_code == 200
    back = await login(system.gateway, password=NEW_PASSWORD)
    assert back.status_code in (200, 401), back.text
    assert back.json().get("code") != "password_reset_required"
    old = await login(system.gateway)
    assert old.status_code == 401
    assert (await system.gateway.get(f"/v1/ops/customers/{customers['a']}", headers=analyst)).json()[
        "password_reset_required"
    ] is False


async def test_containment_refusals_change_nothing(
    system: System, monkeypatch: pytest.MonkeyPatch, smtp: SmtpSink
) -> None:
    supervisor, analyst, _ = await desk(system)
    customers = await _customers(system)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"

    denied = await system.gateway.post(f"{path}/containment", json={"ip": "203.0.113.0/24"}, headers=analyst)
    assert denied.status_code == 403
    wrong_bodies: list[dict[str, Any]] = [
        {},
        {"ip": "203.0.113.0/33"},
        {"ip": "not-an-ip"},
        {"customer_ids": ["bad id!"]},
        {"ip": "203.0.113.0/24", "lock": False, "revoke_sessions": False},
        {"ip": "203.0.113.0/24", "since": (system.clock.now() + timedelta(days=1)).isoformat()},
    ]
    for wrong in wrong_bodies:
        refused = await system.gateway.post(f"{path}/containment", json=wrong, headers=supervisor)
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.json()["code"] == "validation_failed"
    monkeypatch.setattr(containment, "MAX_CUSTOMERS", 2)
    capped = await system.gateway.post(f"{path}/containment", json={"ip": "203.0.113.0/24"}, headers=supervisor)
    assert capped.status_code == 422
    assert capped.json()["code"] == "too_many_customers"
    assert capped.json()["limit"] == 2
    unknown = await system.gateway.post(
        "/v1/ops/incidents/inc_00000000000000000000000000/containment", json={"ip": "203.0.113.7"}, headers=supervisor
    )
    assert unknown.status_code == 404

    listed = await system.gateway.get(f"{path}/customers", headers=supervisor)
    assert listed.json()["customers"] == []
    assert (await system.gateway.get(f"{path}/customers", headers=analyst)).status_code == 403
    still_in = await login(system.gateway)
    assert still_in.status_code == 401  # the password is right: a new device's second factor, not a lock
    assert still_in.json()["code"] != "account_locked"
    assert customers["a"]


async def test_two_containments_at_once_record_and_lock_each_customer_once(system: System, smtp: SmtpSink) -> None:
    supervisor, _, _ = await desk(system)
    await _customers(system)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}/containment"
    answers = await asyncio.gather(
        *(system.gateway.post(path, json={"ip": "203.0.113.0/24"}, headers=supervisor) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert sum(a.json()["added"] for a in answers) == 3
    assert sum(a.json()["contained"] for a in answers) == 2
    listed = await system.gateway.get(f"/v1/ops/incidents/{incident['id']}/customers", headers=supervisor)
    assert len(listed.json()["customers"]) == 3
    await eventually(lambda: _locked_notices(smtp, CUSTOMER["email"]) >= 1)
    await asyncio.sleep(0.3)
    assert _locked_notices(smtp, CUSTOMER["email"]) == 1


async def test_only_fraud_may_ask_auth_to_contain_customers(system: System) -> None:
    customer_id = await open_account(system.gateway)
    body = {"incident_id": "inc_forged", "action": "lock", "customer_ids": [customer_id]}
    for caller in ("gateway", "kyc", "txn", "notify"):
        token = identity_issuer(caller, system.clock).issue("auth")
        asked = await call(system, "auth", token, "POST", "/internal/incident-actions", json=body)
        assert asked.status_code == 403, caller
        assert asked.json()["code"] == "forbidden"
    forged = signed_with("notify", caller="fraud", system=system).issue("auth")
    assert (await call(system, "auth", forged, "POST", "/internal/incident-actions", json=body)).status_code == 401
    still_in = await login(system.gateway)
    assert still_in.json()["code"] == "mfa_required"  # not locked (423)


async def test_customers_auth_could_not_reach_are_reported_and_contained_when_sent_again(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor, _, _ = await desk(system)
    customers = await _customers(system)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    listed = sorted([customers["a"], customers["b"], customers["c"]])
    monkeypatch.setattr(containment, "INCIDENT_ACTIONS_BATCH", 1)
    real = AuthClient.incident_actions
    calls: list[int] = []

    async def auth_goes_down_after_one_call(self: AuthClient, request: IncidentActionRequest) -> IncidentActionResult:
        calls.append(1)
        if len(calls) > 1:
            raise ServiceUnavailable("The auth service cannot be reached.", service="auth")
        return await real(self, request)

    monkeypatch.setattr(AuthClient, "incident_actions", auth_goes_down_after_one_call)
    partial = await system.gateway.post(f"{path}/containment", json={"customer_ids": listed}, headers=supervisor)
    assert partial.status_code == 200, partial.text
    assert partial.json()["contained"] == 1
    assert partial.json()["failed"] == [{"customer_id": c, "reason": "auth: service_unavailable"} for c in listed[1:]]

    monkeypatch.setattr(AuthClient, "incident_actions", real)
    retried = await system.gateway.post(f"{path}/containment", json={"customer_ids": listed}, headers=supervisor)
    assert retried.json()["asked"] == 2
    assert retried.json()["contained"] == 2
    assert retried.json()["failed"] == []
    rows = (await system.gateway.get(f"{path}/customers", headers=supervisor)).json()["customers"]
    assert [(r["customer_id"], r["status"], r["failure"]) for r in rows] == [(c, "contained", None) for c in listed]
