"""Issue 13 item 10: a device key plus a password logs in without the new-device check, so staff never see one.
Analysts searched fraud's events and read the key of a customer's phone; now every ops view of fraud (events, a
case's linked devices, indicators) shows a digest, and searching by device takes the digest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.fraud import models as fraud_models
from services.fraud.device_digests import device_digest
from tests.auth.conftest import open_account, system
from tests.auth.test_api_login import full_login
from tests.fraud.test_cases import CASES, mule_phone_case
from tests.fraud.test_ops_api import ENTRIES, staff
from tests.harness import System
from tests.servers import eventually_async

__all__ = ["system"]

PHONE_KEY = "a1b2c3d4-phone-key-of-hanako-0001"
EVENTS = "/v1/ops/fraud/events"


async def _events_arrived(system: System, count: int) -> None:
    fraud = system.apps["fraud"].state.service

    async def arrived() -> bool:
        async with fraud.database.transaction() as session:
            rows = (await session.execute(select(fraud_models.event.c.id))).all()
        return len(rows) >= count

    await eventually_async(arrived)


async def test_an_analysts_event_search_never_shows_the_device_key(system: System, sms: Any) -> None:
    customer_id = await open_account(system.gateway)
    await full_login(system, sms, device=PHONE_KEY)  # device_first_seen and login_succeeded carry the key
    await _events_arrived(system, 3)
    _, analyst = await staff(system, "analyst.noda", "analyst")

    found = await system.gateway.get(EVENTS, params={"customer_id": customer_id}, headers=analyst)
    assert found.status_code == 200, found.text
    events = found.json()["events"]
    assert {"device_first_seen", "login_succeeded"} <= {event["type"] for event in events}
    assert PHONE_KEY not in found.text
    digest = device_digest(PHONE_KEY)
    assert digest in found.text

    by_digest = await system.gateway.get(EVENTS, params={"device_id": digest}, headers=analyst)
    assert by_digest.status_code == 200, by_digest.text
    assert {event["type"] for event in by_digest.json()["events"]} >= {"device_first_seen", "login_succeeded"}
    assert PHONE_KEY not in by_digest.text
    other = await system.gateway.get(EVENTS, params={"device_id": device_digest("another")}, headers=analyst)
    assert other.json()["events"] == []


async def test_a_cases_linked_devices_and_the_indicators_show_digests_only(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.aoki", "supervisor")
    case_id = await mule_phone_case(system)
    viewed = await system.gateway.get(f"{CASES}/{case_id}", headers=supervisor)
    assert viewed.status_code == 200, viewed.text
    assert "key-mule" not in viewed.text
    devices = viewed.json()["linked"]["devices"]
    assert [entity["value"] for entity in devices["entities"]] == [device_digest("key-mule")]
    assert {tuple(customer["via"]) for customer in devices["customers"]} == {(device_digest("key-mule"),)}

    put = await system.gateway.put(
        ENTRIES.format("devices"), json={"value": "key-stolen-phone", "note": "stolen"}, headers=supervisor
    )
    assert put.status_code == 200, put.text
    exported = await system.gateway.get("/v1/ops/fraud/indicators", headers=supervisor)
    assert exported.status_code == 200, exported.text
    assert "key-stolen-phone" not in exported.text
    assert ("device", device_digest("key-stolen-phone")) in {
        (i["type"], i["value"]) for i in exported.json()["indicators"]
    }
