"""MON-1 through the public API: access trends count events over time by type, outcome and channel, and the event
search finds them by channel, for events that real requests produced: a customer signing in from the app, a wrong
password typed in a browser, a partner ATM network's authorization, staff opening a dispute at the desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sekisho.sinks import SmsSink
from shared.channels import from_context, of_request
from tests.fraud.test_ops_api import producer, put_events, staff
from tests.harness import System
from tests.servers import eventually_async
from tests.txn.atm_network import borrower, create_partner, requested_withdrawal
from tests.txn.conftest import fraud_allows, system
from tests.txn.fraud_postings import completed_withdrawal
from tests.txn.test_disputes_ops import open_at_desk

__all__ = ["fraud_allows", "system"]  # txn's system: the gateway knows the origin partners sign for

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


async def trend(system: System, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    now = system.clock.now()
    window = {"since": (now - timedelta(hours=2)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    answered = await system.gateway.get("/v1/ops/fraud/trends", params={**window, **params}, headers=headers)
    assert answered.status_code == 200, answered.text
    series: list[dict[str, Any]] = answered.json()["series"]
    return series


def counts(series: list[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    found: dict[tuple[str, str, str], int] = {}
    for point in series:
        key = (point["type"], point["outcome"], point["channel"])
        found[key] = found.get(key, 0) + point["count"]
    return found


@pytest.mark.req("MON-1")
@pytest.mark.usefixtures("fraud_allows")
async def test_trends_count_real_requests_by_type_outcome_and_channel(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)  # opened and signed in from the app (tests' client)
    browser = await system.gateway.post(
        "/v1/auth/login",
        json={"login_id": customer.email, "password": "not-the-password-1", "device_id": "browser-tab-0001"},
        headers={"User-Agent": BROWSER},
    )
    assert browser.status_code == 401
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 20_000)  # txn's own function
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    declined = await atm.authorize(session_id, wrong, 20_000)
    assert declined.json() == {"decision": "declined", "reason_code": "code_invalid"}, declined.text
    drawn = await completed_withdrawal(system, customer.customer_id, 10_000)  # a factory: no request, no event
    await open_at_desk(system, customer.customer_id, [drawn])  # staff open a dispute for the customer who calls
    _, analyst = await staff(system, "analyst.kaji", "analyst")

    expected = {
        ("dispute_opened", "ok", "ops"),
        ("login_succeeded", "ok", "app"),
        ("login_failed", "wrong_password", "web"),
        ("withdrawal_declined", "code_invalid", "atm"),
        ("withdrawal_requested", "ok", "system"),  # no request made it: the test called txn directly
    }

    async def arrived() -> bool:
        return expected <= set(counts(await trend(system, analyst)))

    await eventually_async(arrived)
    series = await trend(system, analyst)
    # Counts over time: every point is an hour of the window, and each kind of event counted where it happened.
    by_kind = counts(series)
    assert by_kind[("login_failed", "wrong_password", "web")] == 1
    assert by_kind[("withdrawal_declined", "code_invalid", "atm")] == 1
    assert by_kind[("dispute_opened", "ok", "ops")] == 1
    assert {point["at"][13:] for point in series} == {":00:00+00:00"}
    assert not any(channel == "web" for (kind, _, channel) in by_kind if kind == "login_succeeded")

    # Filtered by channel: only that channel's points, the same counts.
    atm_only = await trend(system, analyst, channel="atm")
    assert {point["channel"] for point in atm_only} == {"atm"}
    assert counts(atm_only)[("withdrawal_declined", "code_invalid", "atm")] == 1
    web_failures = await trend(system, analyst, channel="web", type="login_failed", bucket="day")
    assert [(p["type"], p["outcome"], p["channel"], p["count"]) for p in web_failures] == [
        ("login_failed", "wrong_password", "web", 1)
    ]

    # The event search: the same events by channel, each naming its channel.
    found = await system.gateway.get(
        "/v1/ops/fraud/events", params={"channel": "atm", "customer_id": customer.customer_id}, headers=analyst
    )
    assert found.status_code == 200, found.text
    assert [(e["type"], e["channel"]) for e in found.json()["events"]] == [("withdrawal_declined", "atm")]


async def test_an_event_from_a_producer_older_than_channels_counts_as_unknown(system: System) -> None:
    at = (system.clock.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    await put_events(system, {"type": "login_succeeded", "occurred_at": at + timedelta(minutes=3)})
    _, analyst = await staff(system, "analyst.ueda", "analyst")
    answered = await system.gateway.get(
        "/v1/ops/fraud/trends",
        params={"since": at.isoformat(), "until": (at + timedelta(hours=1)).isoformat(), "channel": "unknown"},
        headers=analyst,
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["series"] == [
        {"at": at.isoformat(), "type": "login_succeeded", "outcome": "ok", "channel": "unknown", "count": 1}
    ]


async def test_an_unknown_channel_is_refused_with_a_problem(system: System) -> None:
    _, analyst = await staff(system, "analyst.mori", "analyst")
    for path in ("/v1/ops/fraud/trends", "/v1/ops/fraud/events"):
        refused = await system.gateway.get(path, params={"channel": "kiosk"}, headers=analyst)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_failed"
        assert refused.json()["violations"][0]["field"] == "channel"


async def test_an_event_naming_a_channel_outside_the_set_is_refused_and_nothing_is_stored(system: System) -> None:
    at = system.clock.now() - timedelta(days=1)
    async with producer(system) as fraud:
        body = {"event_id": "evt_kiosk0000000000001", "type": "login_succeeded", "occurred_at": at.isoformat()}
        refused = await fraud.post("/internal/events", json={**body, "channel": "kiosk"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_failed"
        assert refused.json()["violations"][0]["field"] == "channel"
    _, analyst = await staff(system, "analyst.hori", "analyst")
    found = await system.gateway.get("/v1/ops/fraud/events", params={"type": "login_succeeded"}, headers=analyst)
    assert "evt_kiosk0000000000001" not in [e["id"] for e in found.json()["events"]]


def test_only_the_gateway_vouches_for_a_channel_and_only_for_one_of_the_set() -> None:
    assert from_context("gateway", {"channel": "atm"}) == "atm"
    # Another service speaking for itself is the system, whatever its context says (the identity check refuses a
    # context from anyone but the gateway anyway: shared/identity.py).
    assert from_context("auth", {"channel": "ops"}) == "system"
    assert from_context("gateway", {"channel": "kiosk"}) == "system"
    assert from_context("gateway", {}) == "system"
    # A mobile browser is still the web; staff sign-in is ops whatever browser; a partner is the ATM network.
    iphone_safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    assert of_request("customer", "/v1/me", iphone_safari) == "web"
    assert of_request("anyone", "/v1/auth/login", "sekisho-app/1.0 (iPhone)") == "app"
    assert of_request("anyone", "/v1/auth/login", None) == "app"
    assert of_request("anyone", "/v1/ops/auth/login", iphone_safari) == "ops"
    assert of_request("partner", "/v1/atm/withdrawals/authorize", None) == "atm"
