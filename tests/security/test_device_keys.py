"""Issue 13 item 10: a device key plus a password logs in without the new-device check, so staff never see one.
Analysts searched fraud's events and read the key of a customer's phone; now every ops view of fraud (events, a
case's linked devices, indicators, the deny and allow lists, what a rule's action did) and the audit trail of
staff reads show a digest, searching by device takes the digest, and the devices lists hold and match digests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from alembic import command
from sqlalchemy import select, text

from sekisho.services import migrations_dir
from sekisho.sinks import SmsSink, SmtpSink
from services.fraud import models as fraud_models
from services.fraud.device_digests import device_digest
from shared.clock import FrozenClock
from shared.database import Database, target_for
from shared.ids import new_id
from shared.migrations import alembic_config
from tests.auth.conftest import SIGNING_KEY, open_account, system
from tests.auth.test_api_login import DEVICE, full_login, login
from tests.fraud.test_actions import DENY_LIST_RULE, create_live_rule_set
from tests.fraud.test_cases import CASES, SUPPRESSIONS, mule_phone_case
from tests.fraud.test_ops_api import ENTRIES, audited, staff
from tests.harness import Backend, System, in_process_system
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


# ---- the deny and allow lists of devices ----------------------------------------------------------------------------

STOLEN_KEY = "f00dfeed-stolen-phone-key-0002"
LOST_KEY = "c0ffee00-lost-phone-key-0003"
# A rule that hits every login and deny-lists its device (and opens a case), weighed to let the login through.
FLAG_EVERY_PHONE = {
    "id": "flag_phone",
    "kind": "velocity",
    "weight": 10,
    "reason": "phone flagged",
    "params": {"max_per_minute": 0},
    "operations": ["login"],
    "actions": ["deny_device", "open_case"],
}


def denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["code"] == "operation_denied"


async def test_a_device_a_rule_deny_lists_is_shown_by_digest_and_its_next_login_is_denied(system: System) -> None:
    await open_account(system.gateway)
    await create_live_rule_set(system.apps["fraud"], [FLAG_EVERY_PHONE, DENY_LIST_RULE])
    first = await login(system.gateway, device=PHONE_KEY)  # scored at the gateway with the app's device key
    assert first.status_code == 401, first.text  # a second factor asked: the rule's weight lets it through
    _, supervisor = await staff(system, "supervisor.mori", "supervisor")

    for params in ({}, {"include_removed": "true"}):
        listed = await system.gateway.get(ENTRIES.format("devices"), params=params, headers=supervisor)
        assert listed.status_code == 200, listed.text
        assert PHONE_KEY not in listed.text
        assert [(e["value"], e["source"]) for e in listed.json()["entries"]] == [
            (device_digest(PHONE_KEY), "rule:flag_phone")
        ]
    queue = await system.gateway.get(CASES, headers=supervisor)
    assert queue.status_code == 200, queue.text
    assert PHONE_KEY not in queue.text
    (case,) = queue.json()["cases"]
    viewed = await system.gateway.get(f"{CASES}/{case['id']}", headers=supervisor)
    assert viewed.status_code == 200, viewed.text
    assert PHONE_KEY not in viewed.text
    (done,) = [action for action in viewed.json()["actions"] if action["action"] == "deny_device"]
    assert done["result"].startswith(f"listed {device_digest(PHONE_KEY)} until ")

    # The list holds the digest, and the scorer matches the digest of the key the gateway sends.
    assert denied(await login(system.gateway, device=PHONE_KEY))


async def test_a_supervisor_lists_a_device_by_key_or_by_digest_and_both_stop_its_logins(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.kudo", "supervisor")
    _, admin = await staff(system, "admin.hara", "admin")
    await open_account(system.gateway)
    by_key = await system.gateway.put(
        ENTRIES.format("devices"), json={"value": STOLEN_KEY, "note": "reported stolen"}, headers=supervisor
    )
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["value"] == device_digest(STOLEN_KEY)
    assert STOLEN_KEY not in by_key.text
    by_digest = await system.gateway.put(
        ENTRIES.format("devices"), json={"value": device_digest(LOST_KEY), "note": "reported lost"}, headers=supervisor
    )
    assert by_digest.status_code == 200, by_digest.text
    assert by_digest.json()["value"] == device_digest(LOST_KEY)
    listed = await system.gateway.get(ENTRIES.format("devices"), headers=supervisor)
    assert {e["value"] for e in listed.json()["entries"]} == {device_digest(STOLEN_KEY), device_digest(LOST_KEY)}
    assert STOLEN_KEY not in listed.text

    assert denied(await login(system.gateway, device=STOLEN_KEY))
    assert denied(await login(system.gateway, device=LOST_KEY))
    assert (await login(system.gateway, device=DEVICE)).status_code == 401  # another phone: a factor, not a refusal

    # Taken off by its key, the digest's entry goes, and the phone logs in again.
    removed = await system.gateway.request(
        "DELETE", ENTRIES.format("devices"), params={"value": STOLEN_KEY}, headers=supervisor
    )
    assert removed.status_code == 200, removed.text
    assert (removed.json()["value"], removed.json()["removed_by"]) == (device_digest(STOLEN_KEY), supervisor_id)
    assert STOLEN_KEY not in removed.text
    assert (await login(system.gateway, device=STOLEN_KEY)).status_code == 401

    changes = await audited(system, admin, 2, actor=supervisor_id, target_id=f"devices:{device_digest(STOLEN_KEY)}")
    changes += await audited(system, admin, 1, actor=supervisor_id, target_id=f"devices:{device_digest(LOST_KEY)}")
    assert sorted(entry["action"] for entry in changes) == ["fraud_list.add", "fraud_list.add", "fraud_list.remove"]
    trail = await system.gateway.get("/v1/ops/audit", params={"actor": supervisor_id}, headers=admin)
    assert trail.status_code == 200, trail.text
    assert STOLEN_KEY not in trail.text


# ---- the audit trail ------------------------------------------------------------------------------------------------


async def test_a_search_or_a_snooze_by_device_key_leaves_only_the_digest_in_the_audit_trail(system: System) -> None:
    analyst_id, analyst = await staff(system, "analyst.ueno", "analyst")
    supervisor_id, supervisor = await staff(system, "supervisor.iida", "supervisor")
    _, admin = await staff(system, "admin.ono", "admin")
    by_key = await system.gateway.get(EVENTS, params={"device_id": PHONE_KEY}, headers=analyst)
    assert by_key.status_code == 200, by_key.text
    auth_device = new_id("dev")  # auth's own device id is no secret: every event shows it
    by_id = await system.gateway.get(EVENTS, params={"device_id": auth_device}, headers=analyst)
    assert by_id.status_code == 200, by_id.text
    snoozed = await system.gateway.post(
        SUPPRESSIONS,
        json={
            "rule_id": "new_device",
            "entity_type": "device",
            "entity_value": PHONE_KEY,
            "until": (system.clock.now() + timedelta(days=1)).isoformat(),
            "note": "QA handset",
        },
        headers=supervisor,
    )
    assert snoozed.status_code == 201, snoozed.text

    searches = await audited(system, admin, 2, actor=analyst_id, action="fraud_events.search")
    assert sorted(entry["detail"]["filters"]["device_id"] for entry in searches) == sorted(
        [device_digest(PHONE_KEY), auth_device]
    )
    (snooze,) = await audited(system, admin, 1, actor=supervisor_id, action="fraud_suppression.add")
    assert snooze["detail"]["entity_value"] == device_digest(PHONE_KEY)
    for actor in (analyst_id, supervisor_id):
        trail = await system.gateway.get("/v1/ops/audit", params={"actor": actor}, headers=admin)
        assert trail.status_code == 200, trail.text
        assert PHONE_KEY not in trail.text


# ---- rows from before the upgrade -----------------------------------------------------------------------------------


async def _fraud_at(backend: Backend, revision: str) -> Database:
    """fraud's database migrated only as far as `revision` (the caller disposes of it)."""
    database = Database(target_for(backend.settings("fraud"), "fraud"), pool_size=1)
    schema = database.target.schema
    async with database.engine.begin() as conn:
        if schema is not None:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(migrations_dir("fraud"), sync), revision))
    return database


async def test_device_keys_listed_before_the_upgrade_become_digests_and_still_stop_the_device(
    backend: Backend, smtp: SmtpSink, sms: SmsSink
) -> None:
    now = datetime.now(UTC)
    database = await _fraud_at(backend, "fraud_0006")
    until = (now + timedelta(days=29)).isoformat()
    entry_id = new_id("lst")
    try:
        async with database.transaction() as session:
            entry = {"kind": "deny", "created_at": now - timedelta(days=1), "removed_at": None, "removed_by": None}
            await session.execute(
                fraud_models.list_entry.insert(),
                [
                    {**entry, "id": entry_id, "list": "devices", "value": STOLEN_KEY, "note": "by a rule",
                     "source": "rule:flag_phone", "expires_at": now + timedelta(days=29)},
                    {**entry, "id": new_id("lst"), "list": "ips", "value": "192.0.2.0/24", "note": "botnet",
                     "source": "stf_x", "expires_at": None},
                ],
            )  # fmt: skip
            actions = [
                {"action": "deny_device", "rules": ["flag_phone"], "result": f"listed {STOLEN_KEY} until {until}",
                 "entry_id": entry_id},
                {"action": "deny_device", "rules": ["flag_phone"], "result": f"{LOST_KEY} was already on the deny list",
                 "entry_id": None},
                {"action": "deny_ip", "rules": ["flag_phone"], "result": f"listed 192.0.2.7/32 until {until}",
                 "entry_id": None},
            ]  # fmt: skip
            await session.execute(
                fraud_models.case.insert().values(
                    id="cas_before_upgrade",
                    opened_at=now - timedelta(days=1),
                    status="open",
                    operation="login",
                    score=10,
                    reasons="[]",
                    actions=json.dumps(actions),
                )
            )
    finally:
        await database.dispose()

    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(now)) as system:  # migrates to head
        _, supervisor = await staff(system, "supervisor.endo", "supervisor")
        devices = await system.gateway.get(ENTRIES.format("devices"), headers=supervisor)
        assert devices.status_code == 200, devices.text
        assert [(e["id"], e["value"]) for e in devices.json()["entries"]] == [(entry_id, device_digest(STOLEN_KEY))]
        assert STOLEN_KEY not in devices.text
        ips = await system.gateway.get(ENTRIES.format("ips"), headers=supervisor)
        assert [e["value"] for e in ips.json()["entries"]] == ["192.0.2.0/24"]  # other lists as they were
        case = await system.gateway.get(f"{CASES}/cas_before_upgrade", headers=supervisor)
        assert case.status_code == 200, case.text
        assert STOLEN_KEY not in case.text
        assert LOST_KEY not in case.text
        assert [action["result"] for action in case.json()["actions"]] == [
            f"listed {device_digest(STOLEN_KEY)} until {until}",
            f"{device_digest(LOST_KEY)} was already on the deny list",
            f"listed 192.0.2.7/32 until {until}",
        ]

        await open_account(system.gateway)
        assert denied(await login(system.gateway, device=STOLEN_KEY))
