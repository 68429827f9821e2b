"""Staff on cases and suppressions through the gateway: the case queue, a case with what is linked to it (the mule
phone shows its other customers), resolution once with a label; rules snoozed for one customer, device or IP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.fraud.device_digests import device_digest
from services.fraud.scoring import Scorer
from shared.clock import FrozenClock
from shared.ids import new_id
from shared.middleware import IDENTITY_HEADER
from tests.fraud.test_ops_api import audited, staff
from tests.harness import System, client_for, identity_issuer

HOME_IP = "126.0.0.1"  # SoftBank, JP
US_IP = "8.8.8.8"
CASES = "/v1/ops/fraud/cases"
MULE = device_digest("key-mule")  # how staff see the mule phone
SUPPRESSIONS = "/v1/ops/fraud/suppressions"


def as_service(system: System, caller: str) -> httpx.AsyncClient:
    client = client_for(system.apps["fraud"])
    client.headers[IDENTITY_HEADER] = identity_issuer(caller, system.clock).issue("fraud")
    return client


async def history(system: System, *events: dict[str, Any]) -> None:
    """Events as auth's outbox delivers them; `ago` is how long before now, `device` the app's device key."""
    async with as_service(system, "auth") as fraud:
        for event in events:
            data = dict(event.get("data", {}))
            if "device" in event:
                data["device_key"] = event["device"]
            response = await fraud.post(
                "/internal/events",
                json={
                    "event_id": new_id("evt"),
                    "type": event.get("type", "login_succeeded"),
                    "occurred_at": (system.clock.now() - event["ago"]).isoformat(),
                    "customer_id": event["customer"],
                    "ip": event.get("ip"),
                    "data": data,
                },
            )
            assert response.status_code == 201, response.text


async def score(system: System, operation: str, **context: Any) -> dict[str, Any]:
    async with as_service(system, "gateway") as fraud:
        response = await fraud.post("/score", json={"operation": operation, **context})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def rules_of(answer: dict[str, Any]) -> set[str]:
    return {reason["rule"] for reason in answer["reasons"]}


# ---- cases ----------------------------------------------------------------------------------------------------------


async def mule_phone_case(system: System) -> str:
    """Three customers on one phone (a mule phone); the third also linked a bank account a fourth linked too; a
    fifth shares the third's IP, a sixth its network; a seventh is unrelated. Scoring the third opens a case."""
    day = timedelta(days=1)
    await history(
        system,
        {"customer": "cus_mule_a", "device": "key-mule", "ip": "198.51.100.10", "ago": 9 * day},
        {"customer": "cus_mule_b", "device": "key-mule", "ip": "198.51.100.11", "ago": 5 * day},
        {"customer": "cus_mule_b", "device": "key-mule", "ip": "198.51.100.11", "ago": 4 * day},
        {"customer": "cus_mule_c", "device": "key-mule", "ip": "203.0.113.7", "ago": 2 * day},
        {
            "customer": "cus_mule_c",
            "type": "bank_account_linked",
            "device": "key-mule",
            "ip": "203.0.113.7",
            "ago": day,
            "data": {"bank_account": "ba_victim"},
        },
        {
            "customer": "cus_docomo",
            "type": "bank_account_linked",
            "device": "key-other",
            "ip": "192.0.2.44",
            "ago": 3 * day,
            "data": {"bank_account": "ba_victim"},
        },
        {"customer": "cus_same_ip", "device": "key-e", "ip": "203.0.113.7", "ago": 3 * day},
        {"customer": "cus_same_net", "device": "key-f", "ip": "203.0.113.99", "ago": 3 * day},
        {"customer": "cus_unrelated", "device": "key-z", "ip": "192.0.2.200", "ago": 3 * day},
        {"customer": "cus_long_ago", "device": "key-mule", "ip": "198.51.100.12", "ago": 60 * day},
    )
    answer = await score(system, "login", customer_id="cus_mule_c", device_key="key-mule", ip="203.0.113.7")
    assert "mule_device" in rules_of(answer), answer
    case_id: str | None = answer["case_id"]
    assert case_id is not None
    return case_id


def customers_of(links: dict[str, Any]) -> dict[str, list[str]]:
    return {customer["customer_id"]: customer["via"] for customer in links["customers"]}


@pytest.mark.req("RESP-3", "MON-3", "SEC-6")
async def test_a_mule_phone_case_is_listed_viewed_with_its_linked_customers_and_resolved_once(
    system: System,
) -> None:
    analyst_id, analyst = await staff(system, "analyst.kudo", "analyst")
    _, admin = await staff(system, "admin.sano", "admin")
    case_id = await mule_phone_case(system)
    assert (await score(system, "login", customer_id="cus_unrelated", device_key="key-z"))["case_id"] is None

    queue = await system.gateway.get(CASES, params={"status": "open"}, headers=analyst)
    assert queue.status_code == 200, queue.text
    (listed,) = queue.json()["cases"]
    assert (listed["id"], listed["status"], listed["customer_id"], listed["operation"]) == (
        case_id,
        "open",
        "cus_mule_c",
        "login",
    )
    assert "mule_device" in {reason["rule"] for reason in listed["reasons"]}
    assert [action["action"] for action in listed["actions"]] == ["open_case"]

    viewed = await system.gateway.get(f"{CASES}/{case_id}", headers=analyst)
    assert viewed.status_code == 200, viewed.text
    linked = viewed.json()["linked"]
    devices = linked["devices"]
    assert [(d["value"], d["events"], d["customers"]) for d in devices["entities"]] == [
        (device_digest("key-mule"), 2, 3)
    ]
    # The other customers on the phone within 30 days; the one who used it 60 days ago is outside the window.
    assert customers_of(devices) == {"cus_mule_b": [MULE], "cus_mule_a": [MULE]}
    mule_b = next(c for c in devices["customers"] if c["customer_id"] == "cus_mule_b")
    assert mule_b["events"] == 2
    assert datetime.fromisoformat(mule_b["first_seen"]) < datetime.fromisoformat(mule_b["last_seen"])
    assert customers_of(linked["bank_accounts"]) == {"cus_docomo": ["ba_victim"]}
    assert [e["value"] for e in linked["bank_accounts"]["entities"]] == ["ba_victim"]
    assert customers_of(linked["ips"]) == {"cus_same_ip": ["203.0.113.7"]}
    assert set(customers_of(linked["networks"])) == {"cus_same_ip", "cus_same_net"}
    assert "cus_unrelated" not in viewed.text
    assert not any(linked[kind]["truncated"] for kind in ("devices", "ips", "networks", "bank_accounts"))

    resolve = f"{CASES}/{case_id}/resolve"
    resolved = await system.gateway.post(
        resolve, json={"label": "fraud", "note": "mule phone, three accounts"}, headers=analyst
    )
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["label"], resolved.json()["resolved_by"]) == (
        "resolved",
        "fraud",
        analyst_id,
    )
    again = await system.gateway.post(resolve, json={"label": "legit", "note": "changed my mind"}, headers=analyst)
    assert again.status_code == 409
    assert again.json()["code"] == "case_already_resolved"
    kept = (await system.gateway.get(f"{CASES}/{case_id}", headers=analyst)).json()
    assert (kept["label"], kept["note"]) == ("fraud", "mule phone, three accounts")
    assert (await system.gateway.get(CASES, params={"status": "open"}, headers=analyst)).json()["cases"] == []
    assert [c["id"] for c in (await system.gateway.get(CASES, headers=analyst)).json()["cases"]] == [case_id]

    trail = await audited(system, admin, 3, actor=analyst_id, target_id=case_id)
    trail += await audited(system, admin, 3, actor=analyst_id, action="fraud_case.list")
    actions = sorted(entry["action"] for entry in trail)
    assert actions == ["fraud_case.list"] * 3 + ["fraud_case.resolve"] + ["fraud_case.view"] * 2
    view = next(entry for entry in trail if entry["action"] == "fraud_case.view")
    assert {"cus_mule_a", "cus_mule_b", "cus_mule_c", "cus_docomo"} <= set(view["detail"]["customers"])
    assert next(e for e in trail if e["action"] == "fraud_case.resolve")["detail"]["label"] == "fraud"


async def test_a_bad_resolution_or_an_unknown_case_is_refused_with_a_problem(system: System) -> None:
    _, analyst = await staff(system, "analyst.mita", "analyst")
    case_id = await mule_phone_case(system)
    resolve = f"{CASES}/{case_id}/resolve"
    for body in ({"label": "fraud", "note": "  "}, {"label": "maybe", "note": "x"}, {"label": "legit"}):
        refused = await system.gateway.post(resolve, json=body, headers=analyst)
        assert refused.status_code == 422, body
    too_long = await system.gateway.post(resolve, json={"label": "legit", "note": "x" * 2001}, headers=analyst)
    assert too_long.status_code == 422
    unknown = await system.gateway.get(f"{CASES}/cas_nothing", headers=analyst)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "case_not_found")
    nothing = await system.gateway.post(
        f"{CASES}/cas_nothing/resolve", json={"label": "legit", "note": "x"}, headers=analyst
    )
    assert nothing.status_code == 404
    assert (await system.gateway.get(f"{CASES}/{case_id}", headers=analyst)).json()["status"] == "open"


# ---- suppressions ---------------------------------------------------------------------------------------------------


@pytest.mark.req("MON-3", "SEC-6")
async def test_a_suppression_silences_one_rule_for_one_entity_until_it_expires_or_is_lifted(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.kano", "supervisor")
    _, analyst = await staff(system, "analyst.seki", "analyst")
    _, admin = await staff(system, "admin.oda", "admin")
    for customer in ("cus_s1", "cus_s2"):
        await history(
            system,
            {"customer": customer, "device": f"phone-{customer}", "ip": HOME_IP, "ago": timedelta(days=10)},
            {"customer": customer, "device": f"phone-{customer}", "ip": HOME_IP, "ago": timedelta(days=2)},
        )

    async def hits(customer: str, device: str, ip: str = HOME_IP) -> set[str]:
        return rules_of(await score(system, "login", customer_id=customer, device_key=device, ip=ip))

    assert "new_device" in await hits("cus_s1", "phone-new")
    now = system.clock.now()
    for_customer = await system.gateway.post(
        SUPPRESSIONS,
        json={
            "rule_id": "new_device",
            "entity_type": "customer",
            "entity_value": "cus_s1",
            "until": (now + timedelta(minutes=2)).isoformat(),
            "note": "bought a new phone, confirmed by phone call",
        },
        headers=supervisor,
    )
    assert for_customer.status_code == 201, for_customer.text
    assert (for_customer.json()["created_by"], for_customer.json()["in_force"]) == (supervisor_id, True)
    for_device = await system.gateway.post(
        SUPPRESSIONS,
        json={
            "rule_id": "new_device",
            "entity_type": "device",
            "entity_value": device_digest("phone-qa"),  # as the ops views show a device
            "until": (now + timedelta(days=30)).isoformat(),
            "note": "QA handset",
        },
        headers=supervisor,
    )
    assert for_device.status_code == 201, for_device.text

    assert "new_device" not in await hits("cus_s1", "phone-new")  # that rule, that customer
    assert "unusual_country" in await hits("cus_s1", "phone-new", ip=US_IP)  # other rules still hit
    assert "new_device" in await hits("cus_s2", "phone-new")  # other customers still hit
    assert "new_device" not in await hits("cus_s2", "phone-qa")  # the device key, whoever holds it

    listed = await system.gateway.get(SUPPRESSIONS, headers=analyst)
    assert listed.status_code == 200
    assert {s["entity_value"] for s in listed.json()["suppressions"]} == {"cus_s1", device_digest("phone-qa")}

    suppression_id = for_device.json()["id"]
    lifted = await system.gateway.delete(f"{SUPPRESSIONS}/{suppression_id}", headers=supervisor)
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["lifted_by"], lifted.json()["in_force"]) == (supervisor_id, False)
    assert "new_device" in await hits("cus_s2", "phone-qa")
    twice = await system.gateway.delete(f"{SUPPRESSIONS}/{suppression_id}", headers=supervisor)
    assert (twice.status_code, twice.json()["code"]) == (409, "suppression_already_lifted")

    assert isinstance(system.clock, FrozenClock)
    system.clock.advance(minutes=2, seconds=1)
    scorer: Scorer = system.apps["fraud"].state.service.runtime.scorer
    scorer.suppressions.forget()  # read again within a second of real time anyway; the clock moved faster
    assert "new_device" in await hits("cus_s1", "phone-new")
    assert (await system.gateway.get(SUPPRESSIONS, headers=analyst)).json()["suppressions"] == []
    ended = await system.gateway.get(SUPPRESSIONS, params={"include_ended": "true"}, headers=analyst)
    assert {(s["entity_value"], s["in_force"]) for s in ended.json()["suppressions"]} == {
        ("cus_s1", False),
        (device_digest("phone-qa"), False),
    }

    trail = await audited(system, admin, 1, actor=supervisor_id, action="fraud_suppression.lift")
    trail += await audited(system, admin, 2, actor=supervisor_id, action="fraud_suppression.add")
    added = next(e for e in trail if e["detail"]["entity_value"] == "cus_s1")
    assert added["detail"]["note"] == "bought a new phone, confirmed by phone call"
    assert added["detail"]["customers"] == ["cus_s1"]
    assert trail[0]["target_id"] == suppression_id


@pytest.mark.req("MON-3")
async def test_a_suppression_for_a_rule_not_live_or_too_long_or_past_is_refused_and_nothing_stored(
    system: System,
) -> None:
    _, supervisor = await staff(system, "supervisor.ueda", "supervisor")
    now = system.clock.now()
    good = {
        "rule_id": "new_device",
        "entity_type": "ip",
        "entity_value": "203.0.113.5",
        "until": (now + timedelta(days=1)).isoformat(),
        "note": "office NAT",
    }
    for change, field in (
        ({"rule_id": "no_such_rule"}, "rule_id"),
        ({"until": (now - timedelta(minutes=1)).isoformat()}, "until"),
        ({"until": (now + timedelta(days=91)).isoformat()}, "until"),
        ({"entity_value": "203.0.113.0/24"}, "entity_value"),
    ):
        refused = await system.gateway.post(SUPPRESSIONS, json={**good, **change}, headers=supervisor)
        assert refused.status_code == 422, change
        assert refused.json()["code"] == "validation_failed"
        assert refused.json()["violations"][0]["field"] == field
    for change in ({"entity_type": "phone"}, {"note": ""}, {"until": "2030-01-01T00:00:00"}):
        assert (await system.gateway.post(SUPPRESSIONS, json={**good, **change}, headers=supervisor)).status_code == 422
    everything = await system.gateway.get(SUPPRESSIONS, params={"include_ended": "true"}, headers=supervisor)
    assert everything.json()["suppressions"] == []
    unknown = await system.gateway.delete(f"{SUPPRESSIONS}/sup_nothing", headers=supervisor)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "suppression_not_found")


@pytest.mark.req("MON-3", "SEC-6")
async def test_an_analyst_is_refused_on_the_supervisor_routes_at_the_gateway(system: System) -> None:
    _, analyst = await staff(system, "analyst.hoshi", "analyst")
    body = {
        "rule_id": "new_device",
        "entity_type": "customer",
        "entity_value": "cus_x",
        "until": (system.clock.now() + timedelta(days=1)).isoformat(),
        "note": "x",
    }
    added = await system.gateway.post(SUPPRESSIONS, json=body, headers=analyst)
    lifted = await system.gateway.delete(f"{SUPPRESSIONS}/sup_any", headers=analyst)
    assert (added.status_code, lifted.status_code) == (403, 403)
    assert added.json()["code"] == "forbidden"
    assert (await system.gateway.get(SUPPRESSIONS, headers=analyst)).status_code == 200
    assert (await system.gateway.get(CASES)).status_code == 401  # no staff token
    async with as_service(system, "auth") as fraud:  # a service, not staff
        assert (await fraud.get("/internal/ops/cases")).status_code == 401
