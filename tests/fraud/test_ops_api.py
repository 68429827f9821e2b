"""Staff on fraud's data through the gateway: event search, trends, deny and allow lists, indicator export."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.auth import models as auth_models
from services.fraud import models
from services.fraud.device_digests import device_digest
from services.gateway.bearer import identity_context
from shared.clock import FrozenClock
from shared.middleware import IDENTITY_HEADER
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import System, client_for, identity_issuer
from tests.servers import eventually_async

Headers = dict[str, str]


async def staff(system: System, login_id: str, role: str) -> tuple[str, Headers]:
    """A signed-in staff member: their id and the Authorization header of their access token."""
    token = await staff_token(system, await make_staff(system, login_id, role))
    async with system.apps["auth"].state.service.database.transaction() as session:
        staff_id = (
            await session.execute(select(auth_models.staff.c.id).where(auth_models.staff.c.login_id == login_id))
        ).scalar_one()
    return staff_id, {"Authorization": f"Bearer {token}"}


def producer(system: System, service: str = "auth") -> httpx.AsyncClient:
    """fraud as auth's outbox reaches it (events go in with auth's identity), or as another service calls it."""
    client = client_for(system.apps["fraud"])
    client.headers[IDENTITY_HEADER] = identity_issuer(service, system.clock).issue("fraud")
    return client


async def put_events(system: System, *events: dict[str, Any]) -> None:
    async with producer(system) as fraud:
        for number, event in enumerate(events):
            body = {"event_id": f"evt_ops{number:020d}", "outcome": "ok", **event}
            body["occurred_at"] = body["occurred_at"].isoformat()
            response = await fraud.post("/internal/events", json=body)
            assert response.status_code == 201, response.text


def hour_ago(system: System, days: int = 3) -> datetime:
    """An hour well before the test's staff logins, so their own events do not mix in."""
    return (system.clock.now() - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


async def trail(system: System, admin: Headers, **filters: str) -> list[dict[str, Any]]:
    response = await system.gateway.get("/v1/ops/audit", params=filters, headers=admin)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def audited(system: System, admin: Headers, count: int, **filters: str) -> list[dict[str, Any]]:
    """fraud's entries reach auth's trail through fraud's outbox: wait for `count` of them."""

    async def arrived() -> bool:
        return len(await trail(system, admin, **filters)) >= count

    await eventually_async(arrived)
    return await trail(system, admin, **filters)


# ---- event search ---------------------------------------------------------------------------------------------------


async def _search_sample(system: System) -> datetime:
    base = hour_ago(system)
    await put_events(
        system,
        {
            "type": "login_succeeded",
            "occurred_at": base + timedelta(minutes=1),
            "customer_id": "cus_a",
            "device_id": "dev_1",
            "ip": "203.0.113.7",
            "data": {"device_key": "key-phone-1"},
        },
        {
            "type": "login_failed",
            "occurred_at": base + timedelta(minutes=2),
            "customer_id": "cus_b",
            "ip": "203.0.113.200",
            "outcome": "wrong_password",
            "data": {"device_key": "key-phone-1"},
        },
        {
            "type": "withdrawal_requested",
            "occurred_at": base + timedelta(minutes=3),
            "customer_id": "cus_c",
            "device_id": "dev_3",
            "ip": "198.51.100.9",
            "data": {"amount": 50000},
        },
        {
            "type": "login_succeeded",
            "occurred_at": base + timedelta(minutes=4),
            "customer_id": "cus_a",
            "ip": "203.0.114.5",
        },
        {
            "type": "login_succeeded",
            "occurred_at": base + timedelta(minutes=5),
            "customer_id": "cus_d",
            "ip": "2001:db8::1",
        },
    )
    return base


@pytest.mark.req("MON-2")
async def test_events_are_found_by_customer_ip_network_device_type_and_time_newest_first(system: System) -> None:
    base = await _search_sample(system)
    _, analyst = await staff(system, "analyst.ueno", "analyst")
    window = {"since": base.isoformat(), "until": (base + timedelta(hours=1)).isoformat()}

    async def customers(**filters: Any) -> list[str]:
        response = await system.gateway.get("/v1/ops/fraud/events", params={**window, **filters}, headers=analyst)
        assert response.status_code == 200, response.text
        return [event["customer_id"] for event in response.json()["events"]]

    assert await customers() == ["cus_d", "cus_a", "cus_c", "cus_b", "cus_a"]
    assert await customers(customer_id="cus_a") == ["cus_a", "cus_a"]
    assert await customers(ip="203.0.113.7") == ["cus_a"]
    assert await customers(ip="203.0.113.0/24") == ["cus_b", "cus_a"]  # the stored /24
    assert await customers(ip="203.0.113.128/25") == ["cus_b"]  # inside a /24: narrowed after
    assert await customers(ip="203.0.112.0/22") == ["cus_a", "cus_b", "cus_a"]  # four /24s
    assert await customers(ip="203.0.0.0/8") == ["cus_a", "cus_b", "cus_a"]  # wider: matched over the window
    assert await customers(ip="2001:db8::/32") == ["cus_d"]
    assert await customers(device_id="key-phone-1") == ["cus_b", "cus_a"]  # the app's device key
    assert await customers(device_id="dev_3") == ["cus_c"]  # auth's device id
    assert await customers(type="login_succeeded", limit=2) == ["cus_d", "cus_a"]
    assert await customers(since=(base + timedelta(minutes=2)).isoformat(), until=window["until"]) == [
        "cus_d",
        "cus_a",
        "cus_c",
        "cus_b",
    ]

    found = await system.gateway.get(
        "/v1/ops/fraud/events", params={**window, "type": "withdrawal_requested"}, headers=analyst
    )
    (event,) = found.json()["events"]
    assert event["amount"] == 50000
    assert event["data"] == {"amount": 50000}
    assert event["producer"] == "auth"
    assert event["device_id"] == "dev_3"
    assert datetime.fromisoformat(event["occurred_at"]) == base + timedelta(minutes=3)


@pytest.mark.req("MON-2")
async def test_a_malformed_search_is_refused_with_a_problem(system: System) -> None:
    _, analyst = await staff(system, "analyst.kubo", "analyst")
    now = system.clock.now()
    cases = [
        ({"ip": "203.0.113.999"}, "ip"),
        ({"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"since": "2026-01-05T09:00:00"}, "since"),  # no offset: which zone?
    ]
    for params, field in cases:
        response = await system.gateway.get("/v1/ops/fraud/events", params=params, headers=analyst)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_failed"
        assert [v["field"] for v in response.json()["violations"]] == [field]


@pytest.mark.req("MON-2", "SEC-6")
async def test_an_event_search_is_recorded_with_its_filters_and_the_customers_it_showed(system: System) -> None:
    base = await _search_sample(system)
    analyst_id, analyst = await staff(system, "analyst.iwata", "analyst")
    _, admin = await staff(system, "admin.oka", "admin")
    params = {"ip": "203.0.113.0/24", "since": base.isoformat()}
    assert (await system.gateway.get("/v1/ops/fraud/events", params=params, headers=analyst)).status_code == 200

    (entry,) = await audited(system, admin, 1, actor=analyst_id, action="fraud_events.search")
    assert entry["service"] == "fraud"
    assert entry["target_id"] == "*"
    assert entry["detail"]["filters"]["ip"] == "203.0.113.0/24"
    assert entry["detail"]["filters"]["since"] == base.isoformat()
    assert entry["detail"]["customers"] == ["cus_a", "cus_b"]


# ---- trends ---------------------------------------------------------------------------------------------------------


@pytest.mark.req("SEC-6")  # MON-1 as a whole, channel included, is tests/fraud/test_trends_by_channel.py's
async def test_trends_count_events_per_hour_and_per_day_by_type_and_outcome(system: System) -> None:
    # Noon: the events of the first hours stay on one day whatever the hour the test runs (at 23:xx UTC an hour
    # taken from the clock put the third event on the next day).
    base = hour_ago(system, days=5).replace(hour=12)
    day = base.replace(hour=0)
    await put_events(
        system,
        {"type": "login_failed", "occurred_at": base + timedelta(minutes=5), "outcome": "wrong_password"},
        {"type": "login_failed", "occurred_at": base + timedelta(minutes=59), "outcome": "wrong_password"},
        {"type": "login_succeeded", "occurred_at": base + timedelta(minutes=20)},
        {"type": "login_failed", "occurred_at": base + timedelta(hours=1, minutes=1), "outcome": "wrong_password"},
        {"type": "login_failed", "occurred_at": base + timedelta(days=1), "outcome": "locked"},
    )
    analyst_id, analyst = await staff(system, "analyst.hino", "analyst")
    _, admin = await staff(system, "admin.seki", "admin")

    hourly = await system.gateway.get(
        "/v1/ops/fraud/trends",
        params={"bucket": "hour", "since": base.isoformat(), "until": (base + timedelta(hours=2)).isoformat()},
        headers=analyst,
    )
    assert hourly.status_code == 200, hourly.text
    assert hourly.json()["bucket"] == "hour"
    assert hourly.json()["series"] == [
        {"at": base.isoformat(), "type": "login_failed", "outcome": "wrong_password", "channel": "unknown", "count": 2},
        {"at": base.isoformat(), "type": "login_succeeded", "outcome": "ok", "channel": "unknown", "count": 1},
        {
            "at": (base + timedelta(hours=1)).isoformat(),
            "type": "login_failed",
            "outcome": "wrong_password",
            "channel": "unknown",  # put in as a producer older than channels sends them
            "count": 1,
        },
    ]

    daily = await system.gateway.get(
        "/v1/ops/fraud/trends",
        params={
            "bucket": "day",
            "type": "login_failed",
            "since": day.isoformat(),
            "until": (day + timedelta(days=2)).isoformat(),
        },
        headers=analyst,
    )
    assert daily.status_code == 200, daily.text
    first, second = day.isoformat(), (day + timedelta(days=1)).isoformat()
    assert daily.json()["series"] == [
        {"at": first, "type": "login_failed", "outcome": "wrong_password", "channel": "unknown", "count": 3},
        {"at": second, "type": "login_failed", "outcome": "locked", "channel": "unknown", "count": 1},
    ]

    entries = await audited(system, admin, 2, actor=analyst_id, action="fraud_trends.view")
    assert [e["detail"]["filters"]["bucket"] for e in entries] == ["day", "hour"]
    assert entries[0]["target_id"] == "login_failed"


async def test_a_trend_window_too_wide_for_its_bucket_is_refused(system: System) -> None:
    _, analyst = await staff(system, "analyst.mano", "analyst")
    now = system.clock.now()
    wide = {"since": (now - timedelta(days=32)).isoformat(), "until": now.isoformat()}
    refused = await system.gateway.get("/v1/ops/fraud/trends", params={"bucket": "hour", **wide}, headers=analyst)
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_failed"
    allowed = await system.gateway.get("/v1/ops/fraud/trends", params={"bucket": "day", **wide}, headers=analyst)
    assert allowed.status_code == 200
    unknown = await system.gateway.get("/v1/ops/fraud/trends", params={"bucket": "week"}, headers=analyst)
    assert unknown.status_code == 422


# ---- lists ----------------------------------------------------------------------------------------------------------

ENTRIES = "/v1/ops/fraud/lists/{}/entries"


async def entries(system: System, headers: Headers, name: str, **params: str) -> list[dict[str, Any]]:
    response = await system.gateway.get(ENTRIES.format(name), params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entries"]
    return found


@pytest.mark.req("RESP-3")
async def test_a_supervisor_adds_replaces_and_removes_an_entry_and_the_history_stays(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.kano", "supervisor")
    added = await system.gateway.put(
        ENTRIES.format("ips"), json={"value": "203.0.113.7/24", "note": "credential stuffing"}, headers=supervisor
    )
    assert added.status_code == 200, added.text
    first = added.json()
    assert (first["value"], first["kind"], first["source"], first["in_force"]) == (
        "203.0.113.0/24",
        "deny",
        supervisor_id,
        True,
    )

    replaced = await system.gateway.put(
        ENTRIES.format("ips"),
        json={"value": "203.0.113.0/24", "note": "credential stuffing, confirmed"},
        headers=supervisor,
    )
    assert replaced.status_code == 200
    (current,) = await entries(system, supervisor, "ips")
    assert current["id"] == replaced.json()["id"] != first["id"]
    assert current["note"] == "credential stuffing, confirmed"
    history = await entries(system, supervisor, "ips", include_removed="true")
    assert [(e["id"], e["in_force"], e["removed_by"]) for e in history] == [
        (current["id"], True, None),
        (first["id"], False, supervisor_id),
    ]

    removed = await system.gateway.request(
        "DELETE", ENTRIES.format("ips"), params={"value": "203.0.113.0/24"}, headers=supervisor
    )
    assert removed.status_code == 200
    assert removed.json()["removed_by"] == supervisor_id
    assert await entries(system, supervisor, "ips") == []
    assert len(await entries(system, supervisor, "ips", include_removed="true")) == 2
    again = await system.gateway.request(
        "DELETE", ENTRIES.format("ips"), params={"value": "203.0.113.0/24"}, headers=supervisor
    )
    assert again.status_code == 404
    assert again.json()["code"] == "list_entry_not_found"

    # An allow entry for the same value is a different entry: removing the deny one leaves it.
    await system.gateway.put(
        ENTRIES.format("devices"), json={"value": "key-x", "kind": "allow", "note": "QA phone"}, headers=supervisor
    )
    await system.gateway.put(ENTRIES.format("devices"), json={"value": "key-x", "note": "stolen"}, headers=supervisor)
    await system.gateway.request("DELETE", ENTRIES.format("devices"), params={"value": "key-x"}, headers=supervisor)
    assert [(e["kind"], e["value"]) for e in await entries(system, supervisor, "devices")] == [
        ("allow", device_digest("key-x"))  # a device by digest, never its key (tests/security/test_device_keys.py)
    ]


@pytest.mark.req("RESP-3")
async def test_a_deny_entry_is_in_force_for_scoring_as_soon_as_it_is_added(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.sugi", "supervisor")
    request = {"operation": "login", "ip": "198.51.100.23"}
    async with producer(system, "gateway") as fraud:  # the gateway asks for scores
        before = await fraud.post("/score", json=request)  # loads the lists into the scorer's cache
        added = await system.gateway.put(
            ENTRIES.format("ips"), json={"value": "198.51.100.0/24", "note": "botnet"}, headers=supervisor
        )
        assert added.status_code == 200
        after = await fraud.post("/score", json=request)
    assert "deny_list" not in [r["rule"] for r in before.json()["reasons"]]
    assert "deny_list" in [r["rule"] for r in after.json()["reasons"]]
    assert after.json()["action"] == "deny"


@pytest.mark.req("RESP-3")
async def test_bad_list_input_is_refused_and_changes_nothing(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.hara", "supervisor")
    not_a_network = await system.gateway.put(
        ENTRIES.format("ips"), json={"value": "203.0.113.0/33", "note": "typo"}, headers=supervisor
    )
    assert not_a_network.status_code == 422
    assert not_a_network.json()["code"] == "validation_failed"
    assert not_a_network.json()["violations"][0]["field"] == "value"
    past = (system.clock.now() - timedelta(minutes=1)).isoformat()
    expired = await system.gateway.put(
        ENTRIES.format("ips"), json={"value": "203.0.113.1", "note": "x", "expires_at": past}, headers=supervisor
    )
    assert expired.status_code == 422
    assert expired.json()["violations"][0]["field"] == "expires_at"
    no_note = await system.gateway.put(ENTRIES.format("ips"), json={"value": "203.0.113.1"}, headers=supervisor)
    assert no_note.status_code == 422
    blank_note = await system.gateway.put(
        ENTRIES.format("ips"), json={"value": "203.0.113.1", "note": "  "}, headers=supervisor
    )
    assert blank_note.status_code == 422
    unknown = await system.gateway.get(ENTRIES.format("phones"), headers=supervisor)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "list_not_found"
    assert await entries(system, supervisor, "ips", include_removed="true") == []


@pytest.mark.req("RESP-3")
async def test_an_entry_with_an_expiry_stops_being_in_force_and_stays_visible(system: System) -> None:
    _, supervisor = await staff(system, "supervisor.mizu", "supervisor")
    until = system.clock.now() + timedelta(seconds=60)
    added = await system.gateway.put(
        ENTRIES.format("customers"),
        json={"value": "cus_expiring", "note": "hold during review", "expires_at": until.isoformat()},
        headers=supervisor,
    )
    assert added.status_code == 200
    assert datetime.fromisoformat(added.json()["expires_at"]) == until
    assert [e["value"] for e in await entries(system, supervisor, "customers")] == ["cus_expiring"]
    assert isinstance(system.clock, FrozenClock)
    system.clock.advance(90)
    assert await entries(system, supervisor, "customers") == []
    (kept,) = await entries(system, supervisor, "customers", include_removed="true")
    assert (kept["value"], kept["in_force"], kept["removed_at"]) == ("cus_expiring", False, None)


@pytest.mark.req("RESP-3")
async def test_an_analyst_is_refused_on_the_lists_at_the_gateway_and_at_fraud(system: System) -> None:
    _, analyst = await staff(system, "analyst.nomura", "analyst")
    for method in ("GET", "PUT", "DELETE"):
        response = await system.gateway.request(
            method, ENTRIES.format("ips"), params={"value": "203.0.113.1"}, headers=analyst
        )
        assert response.status_code == 403, method
    # A call that got past the gateway's check is refused by fraud itself.
    token = analyst["Authorization"].removeprefix("Bearer ")
    verifier = await system.apps["gateway"].state.service.runtime.bearer._keys(refresh=False)
    context = identity_context(verifier.verify(token, subject_type="staff"))
    issuer = identity_issuer("gateway", system.clock)
    async with client_for(system.apps["fraud"]) as fraud:
        fraud.headers[IDENTITY_HEADER] = issuer.issue("fraud", context)
        read = await fraud.get("/internal/ops/lists/ips/entries")
        write = await fraud.put("/internal/ops/lists/ips/entries", json={"value": "203.0.113.1", "note": "x"})
        export = await fraud.get("/internal/ops/indicators")
    assert (read.status_code, write.status_code, export.status_code) == (403, 403, 403)
    assert write.json()["code"] == "forbidden"
    async with producer(system) as fraud:  # a service, not staff
        assert (await fraud.get("/internal/ops/events")).status_code == 401


@pytest.mark.req("RESP-3", "SEC-6")
async def test_every_list_read_and_change_is_recorded(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.ohno", "supervisor")
    _, admin = await staff(system, "admin.tsuji", "admin")
    await system.gateway.put(ENTRIES.format("devices"), json={"value": "key-bad", "note": "mule"}, headers=supervisor)
    await entries(system, supervisor, "devices")
    await system.gateway.request("DELETE", ENTRIES.format("devices"), params={"value": "key-bad"}, headers=supervisor)

    found = await audited(system, admin, 2, actor=supervisor_id, target_id=f"devices:{device_digest('key-bad')}")
    found += await audited(system, admin, 1, actor=supervisor_id, action="fraud_list.view")
    assert sorted(e["action"] for e in found) == ["fraud_list.add", "fraud_list.remove", "fraud_list.view"]
    assert {e["target_type"] for e in found} == {"fraud_list"}
    add = next(e for e in found if e["action"] == "fraud_list.add")
    assert add["detail"]["note"] == "mule"
    assert add["detail"]["value"] == device_digest("key-bad")


# ---- indicators -----------------------------------------------------------------------------------------------------


async def _open_resolved_case(system: System, *, label: str, ip: str, device_id: str, customer_id: str) -> None:
    """A case as the case queue leaves it once resolved (the queue's routes are another issue's)."""
    now = system.clock.now()
    async with system.apps["fraud"].state.service.database.transaction() as session:
        await session.execute(
            models.case.insert().values(
                id=f"cas_{label}_{device_id}",
                opened_at=now - timedelta(days=1),
                status="resolved",
                operation="withdrawal",
                customer_id=customer_id,
                device_id=device_id,
                ip=ip,
                score=90,
                reasons="[]",
                actions="[]",
                label=label,
                resolved_at=now,
                resolved_by="stf_x",
                note=f"{customer_id} admitted the phone was stolen",
            )
        )


@pytest.mark.req("INC-4")
async def test_indicators_hold_deny_listed_and_case_ips_devices_and_bank_accounts_but_no_customer(
    system: System,
) -> None:
    _, supervisor = await staff(system, "supervisor.aoki", "supervisor")
    for name, value in (
        ("ips", "198.51.100.0/24"),
        ("devices", "key-mule-phone"),
        ("bank_accounts", "ba_digest_1"),
        ("customers", "cus_fraudster"),
    ):
        put = await system.gateway.put(ENTRIES.format(name), json={"value": value, "note": "=cmd"}, headers=supervisor)
        assert put.status_code == 200
    await system.gateway.put(
        ENTRIES.format("ips"), json={"value": "192.0.2.1", "kind": "allow", "note": "office"}, headers=supervisor
    )
    await put_events(
        system,
        {
            "type": "login_succeeded",
            "occurred_at": hour_ago(system),
            "customer_id": "cus_victim",
            "device_id": "dev_case",
            "data": {"device_key": "key-case-phone"},
        },
    )
    await _open_resolved_case(system, label="fraud", ip="203.0.113.9", device_id="dev_case", customer_id="cus_victim")
    await _open_resolved_case(system, label="legit", ip="192.0.2.55", device_id="dev_ok", customer_id="cus_fine")

    exported = await system.gateway.get("/v1/ops/fraud/indicators", headers=supervisor)
    assert exported.status_code == 200, exported.text
    found = {(i["type"], i["value"], i["source"]) for i in exported.json()["indicators"]}
    assert found == {
        ("bank_account", "ba_digest_1", "deny_list"),
        ("device", device_digest("key-case-phone"), "case"),  # shared by digest, never the key
        ("device", device_digest("key-mule-phone"), "deny_list"),
        ("ip", "198.51.100.0/24", "deny_list"),
        ("ip", "203.0.113.9", "case"),
    }
    assert "cus_" not in exported.text
    assert exported.json()["generated_at"] == system.clock.now().isoformat()

    as_csv = await system.gateway.get("/v1/ops/fraud/indicators", params={"format": "csv"}, headers=supervisor)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == "type,value,first_seen,source,note"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["type"], r["value"], r["source"]) for r in rows} == found
    assert {r["note"] for r in rows if r["source"] == "deny_list"} == {"'=cmd"}  # never a live formula
    assert "cus_" not in as_csv.text

    only_ips = await system.gateway.get("/v1/ops/fraud/indicators", params={"kinds": "ip"}, headers=supervisor)
    assert {i["value"] for i in only_ips.json()["indicators"]} == {"198.51.100.0/24", "203.0.113.9"}
    later = (system.clock.now() + timedelta(seconds=1)).isoformat()
    none_since = await system.gateway.get("/v1/ops/fraud/indicators", params={"since": later}, headers=supervisor)
    assert none_since.json()["indicators"] == []


@pytest.mark.req("INC-4", "SEC-6")
async def test_an_indicator_export_is_recorded_and_a_bad_kind_refused(system: System) -> None:
    supervisor_id, supervisor = await staff(system, "supervisor.endo", "supervisor")
    _, admin = await staff(system, "admin.baba", "admin")
    refused = await system.gateway.get("/v1/ops/fraud/indicators", params={"kinds": "ip,customer"}, headers=supervisor)
    assert refused.status_code == 422
    assert refused.json()["violations"][0]["field"] == "kinds"
    exported = await system.gateway.get(
        "/v1/ops/fraud/indicators", params={"kinds": "device", "format": "csv"}, headers=supervisor
    )
    assert exported.status_code == 200
    (entry,) = await audited(system, admin, 1, actor=supervisor_id, action="fraud_indicators.export")
    assert entry["detail"]["filters"] == {"since": None, "kinds": ["device"], "format": "csv"}
    assert entry["detail"]["count"] == 0
