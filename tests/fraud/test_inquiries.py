"""The consultation desk (INC-5) through the gateway: inquiries recorded, answered and closed, with the facts behind
them from fraud's records, paged with cursors, every step audited; and what the desk refuses."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

import pytest

from sekisho.sinks import SmsSink
from services.fraud.device_digests import device_digest
from shared.ids import new_id
from tests.fraud.test_cases import history
from tests.fraud.test_ops_api import staff, trail
from tests.harness import System
from tests.servers import eventually_async
from tests.txn.conftest import signed_in_customer

INQUIRIES = "/v1/ops/inquiries"


async def inquiry_facts(system: System, headers: dict[str, str], inquiry_id: str) -> dict[str, Any]:
    viewed = await system.gateway.get(f"{INQUIRIES}/{inquiry_id}", headers=headers)
    assert viewed.status_code == 200, viewed.text
    body: dict[str, Any] = viewed.json()
    return body


@pytest.mark.req("INC-5")
async def test_an_inquiry_is_recorded_answered_and_closed_with_the_customers_facts(
    system: System, sms: SmsSink
) -> None:
    victim = await signed_in_customer(system, sms)  # a real login: auth's events reach fraud
    neighbour = new_id("cus")  # shares the victim's phone: never shown in the victim's inquiry
    analyst_id, analyst = await staff(system, "desk.kudo", "analyst")
    _, supervisor = await staff(system, "desk.sano", "supervisor")
    _, admin = await staff(system, "desk.mori", "admin")
    day = timedelta(days=1)
    await history(
        system,
        {"customer": victim.customer_id, "device": "key-victim", "ip": "203.0.113.7", "ago": 2 * day},
        {
            "customer": victim.customer_id,
            "type": "withdrawal_completed",
            "device": "key-victim",
            "ip": "203.0.113.7",
            "ago": day,
            "data": {"amount": 50000},
        },
        {"customer": neighbour, "device": "key-victim", "ip": "198.51.100.99", "ago": day},
    )
    denied = await system.gateway.put(
        "/v1/ops/fraud/lists/devices/entries",
        json={"value": "key-victim", "note": "victim's phone"},
        headers=supervisor,
    )
    assert denied.status_code == 200, denied.text
    incident = new_id("inc")

    recorded = await system.gateway.post(
        INQUIRIES,
        json={
            "customer_id": victim.customer_id,
            "incident_id": incident,
            "channel": "phone",
            "caller": "family",
            "summary": "娘が知らない引き出しがあると言っています / unknown withdrawal",
        },
        headers=analyst,
    )
    assert recorded.status_code == 201, recorded.text
    inquiry = recorded.json()
    assert (inquiry["status"], inquiry["recorded_by"], inquiry["incident_id"]) == ("new", analyst_id, incident)

    async def login_arrived() -> bool:
        events = (await inquiry_facts(system, analyst, inquiry["id"]))["facts"]["events"]
        return any(event["type"].startswith("login") and event["producer"] == "auth" for event in events)

    await eventually_async(login_arrived)
    detail = await inquiry_facts(system, analyst, inquiry["id"])
    facts = detail["facts"]
    types = [event["type"] for event in facts["events"]]
    assert "withdrawal_completed" in types
    withdrawal = next(event for event in facts["events"] if event["type"] == "withdrawal_completed")
    assert (withdrawal["ip"], withdrawal["device_digest"], withdrawal["amount"]) == (
        "203.0.113.7",
        device_digest("key-victim"),
        50000,
    )
    assert {event["customer_id"] for event in facts["events"]} == {victim.customer_id}
    assert neighbour not in str(detail)
    assert "198.51.100.99" not in str(detail)
    assert "key-victim" not in str(detail)  # devices by digest only
    assert [(e["list"], e["value"]) for e in facts["list_entries"]] == [("devices", device_digest("key-victim"))]
    assert detail["answers"] == []

    answered = await system.gateway.post(
        f"{INQUIRIES}/{inquiry['id']}/answers",
        json={"text": "調査中です。カードを止めました。", "channel": "phone"},
        headers=analyst,
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["inquiry"]["status"] == "answered"
    closed = await system.gateway.post(
        f"{INQUIRIES}/{inquiry['id']}/status", json={"status": "closed"}, headers=analyst
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    detail = await inquiry_facts(system, analyst, inquiry["id"])
    assert detail["status"] == "closed"
    ((answer),) = detail["answers"]
    assert (answer["by"], answer["channel"], answer["text"]) == (
        analyst_id,
        "phone",
        "調査中です。カードを止めました。",
    )
    listed = await system.gateway.get(INQUIRIES, params={"customer_id": victim.customer_id}, headers=analyst)
    assert [(i["id"], i["status"]) for i in listed.json()["inquiries"]] == [(inquiry["id"], "closed")]
    by_incident = await system.gateway.get(INQUIRIES, params={"incident_id": incident}, headers=analyst)
    assert [i["id"] for i in by_incident.json()["inquiries"]] == [inquiry["id"]]

    wanted = {"inquiry.record", "inquiry.view", "inquiry.answer", "inquiry.status", "inquiry.list"}

    async def desk_actions() -> set[str]:
        entries = await trail(system, admin, actor=analyst_id)
        return {e["action"] for e in entries if victim.customer_id in e["detail"].get("customers", [])}

    async def all_audited() -> bool:
        return wanted <= await desk_actions()

    await eventually_async(all_audited)


async def test_an_inquiry_about_one_customer_never_shows_another_on_the_same_phone(system: System) -> None:
    _, analyst = await staff(system, "desk.abe", "analyst")
    first, second = new_id("cus"), new_id("cus")
    await history(
        system,
        {"customer": first, "device": "key-shared", "ip": "203.0.113.1", "ago": timedelta(hours=3)},
        {"customer": second, "device": "key-shared", "ip": "203.0.113.2", "ago": timedelta(hours=2)},
    )
    recorded = await system.gateway.post(
        INQUIRIES, json={"customer_id": second, "channel": "web", "caller": "customer", "summary": "?"}, headers=analyst
    )
    detail = await inquiry_facts(system, analyst, recorded.json()["id"])
    assert [event["ip"] for event in detail["facts"]["events"]] == ["203.0.113.2"]
    assert first not in str(detail)
    unknown = await system.gateway.get(f"{INQUIRIES}/{new_id('inq')}", headers=analyst)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "inquiry_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "fax", "caller": "customer", "summary": "x"},
        {"channel": "phone", "caller": "neighbour", "summary": "x"},
        {"channel": "phone", "caller": "customer", "summary": "   "},
        {"channel": "phone", "caller": "customer", "summary": "x", "customer_id": "admin"},
        {"channel": "phone", "caller": "customer", "summary": "x", "incident_id": "case_1"},
        {"channel": "phone", "caller": "customer", "summary": "x", "received_at": "2999-01-01T00:00:00Z"},
        {"channel": "phone", "caller": "customer", "summary": "x", "status": "closed"},
        {"channel": "phone", "caller": "customer", "summary": "x" * 4001},
    ],
)
async def test_a_bad_inquiry_is_refused_with_a_code_and_nothing_is_recorded(
    system: System, body: dict[str, Any]
) -> None:
    _, analyst = await staff(system, "desk.ito", "analyst")
    refused = await system.gateway.post(INQUIRIES, json=body, headers=analyst)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_failed"
    assert (await system.gateway.get(INQUIRIES, headers=analyst)).json()["inquiries"] == []


async def test_the_desk_moves_inquiries_only_by_its_rules_and_pages_with_cursors_it_gave(system: System) -> None:
    _, analyst = await staff(system, "desk.ueda", "analyst")
    ids = []
    for number in range(3):
        recorded = await system.gateway.post(
            INQUIRIES, json={"channel": "letter", "caller": "police", "summary": f"照会 {number}"}, headers=analyst
        )
        assert recorded.status_code == 201, recorded.text
        ids.append(recorded.json()["id"])
    first = ids[0]

    async def status(value: str) -> tuple[int, str]:
        answer = await system.gateway.post(f"{INQUIRIES}/{first}/status", json={"status": value}, headers=analyst)
        return answer.status_code, answer.json().get("code", answer.json().get("status"))

    assert await status("closed") == (409, "inquiry_status_refused")  # no answer yet
    assert await status("in_progress") == (200, "in_progress")
    assert await status("answered") == (409, "inquiry_status_refused")  # still no answer
    assert await status("bogus") == (422, "validation_failed")
    empty = await system.gateway.post(
        f"{INQUIRIES}/{first}/answers", json={"text": "", "channel": "phone"}, headers=analyst
    )
    assert (empty.status_code, empty.json()["code"]) == (422, "validation_failed")
    answer = {"text": "回答書を送付", "channel": "letter"}
    assert (await system.gateway.post(f"{INQUIRIES}/{first}/answers", json=answer, headers=analyst)).status_code == 201
    assert await status("closed") == (200, "closed")
    assert await status("in_progress") == (409, "inquiry_status_refused")  # closed stays closed
    late = await system.gateway.post(f"{INQUIRIES}/{first}/answers", json=answer, headers=analyst)
    assert (late.status_code, late.json()["code"]) == (409, "inquiry_closed")
    assert len((await inquiry_facts(system, analyst, first))["answers"]) == 1

    page = await system.gateway.get(INQUIRIES, params={"limit": 2}, headers=analyst)
    assert [i["id"] for i in page.json()["inquiries"]] == [ids[2], ids[1]]
    cursor = page.json()["next_cursor"]
    rest = await system.gateway.get(INQUIRIES, params={"limit": 2, "cursor": cursor}, headers=analyst)
    assert [i["id"] for i in rest.json()["inquiries"]] == [ids[0]]
    assert rest.json()["next_cursor"] is None

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    for tampered in (cursor[:-2] + "zz", "!!!", b64(f"cases:{ids[0]}"), b64(f"inquiries:{new_id('inq')}"), "x" * 300):
        refused = await system.gateway.get(INQUIRIES, params={"cursor": tampered}, headers=analyst)
        assert refused.status_code == 422, (tampered, refused.text)
        assert refused.json()["code"] in ("cursor_invalid", "validation_failed")


async def test_only_signed_in_staff_reach_the_desk(system: System, sms: SmsSink) -> None:
    customer = await signed_in_customer(system, sms)
    as_customer = await system.gateway.get(INQUIRIES, headers=customer.headers)
    assert as_customer.status_code in (401, 403), as_customer.text
    anonymous = await system.gateway.post(INQUIRIES, json={"channel": "web", "caller": "other", "summary": "x"})
    assert anonymous.status_code == 401


async def test_answers_given_at_once_are_all_kept_and_the_inquiry_closes_once(system: System) -> None:
    _, first = await staff(system, "race.desk1", "analyst")
    _, second = await staff(system, "race.desk2", "analyst")
    recorded = await system.gateway.post(
        INQUIRIES, json={"channel": "counter", "caller": "customer", "summary": "窓口"}, headers=first
    )
    inquiry = f"{INQUIRIES}/{recorded.json()['id']}"
    answered = await asyncio.gather(
        *(
            system.gateway.post(f"{inquiry}/answers", json={"text": f"回答 {n}", "channel": "counter"}, headers=who)
            for n, who in enumerate((first, second, first))
        )
    )
    assert [answer.status_code for answer in answered] == [201, 201, 201]
    closed = await asyncio.gather(
        system.gateway.post(f"{inquiry}/status", json={"status": "closed"}, headers=first),
        system.gateway.post(f"{inquiry}/status", json={"status": "closed"}, headers=second),
    )
    assert sorted(answer.status_code for answer in closed) == [200, 409]
    detail = await inquiry_facts(system, first, recorded.json()["id"])
    assert sorted(answer["text"] for answer in detail["answers"]) == ["回答 0", "回答 1", "回答 2"]
    assert detail["status"] == "closed"
