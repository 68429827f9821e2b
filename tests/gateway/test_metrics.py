"""Prometheus /metrics on every service (README "Metrics"): the series move with what the system did, labels carry
route templates and never a customer's id or e-mail, and only the allowed networks may scrape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login, login, stepped_up
from tests.harness import Backend, System, in_process_system
from tests.servers import eventually_async

SERVICES = ("gateway", "auth", "kyc", "txn", "fraud", "notify")


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


def scraper(system: System, service: str, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(system.apps[service], raise_app_exceptions=False, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def scrape(system: System, service: str) -> str:
    async with scraper(system, service) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    )


def routes(text: str) -> set[str]:
    return {
        sample.labels["route"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sekisho_http_requests_total"
    }


async def test_every_service_shows_what_happened_by_route_template_and_outcome(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    def change(extra: dict[str, str]) -> Any:
        return system.gateway.patch("/v1/me", json={"email": "new.hanako@example.jp"}, headers={**bearer, **extra})

    changed = await stepped_up(system, sms, change)
    assert changed.status_code == 200, changed.text
    probe = "no-such-path-7f3a9c"
    assert (await system.gateway.get(f"/v1/{probe}/{customer_id}")).status_code == 404
    # Five wrong passwords from the known device: a temporary lock of the known side.
    statuses = [(await login(system.gateway, password=f"Wrong-Guess-{i}x")).status_code for i in range(5)]
    assert statuses[-1] == 423

    gateway = await scrape(system, "gateway")
    assert value(gateway, "sekisho_gateway_step_ups_total", operation="profile_change", outcome="challenged") == 1
    assert value(gateway, "sekisho_gateway_step_ups_total", operation="profile_change", outcome="granted") == 1
    assert value(gateway, "sekisho_gateway_step_ups_total", outcome="denied") == 0
    me = {"service": "gateway", "method": "PATCH", "route": "/v1/me"}
    assert value(gateway, "sekisho_http_requests_total", **me, status="401") == 1
    assert value(gateway, "sekisho_http_requests_total", **me, status="200") == 1
    assert value(gateway, "sekisho_http_request_duration_seconds_count", **me, status="200") == 1
    assert value(gateway, "sekisho_http_request_duration_seconds_bucket", **me, status="200", le="+Inf") == 1
    login_route = {"service": "gateway", "method": "POST", "route": "/v1/auth/login"}
    assert value(gateway, "sekisho_http_requests_total", **login_route, status="423") >= 1
    # The challenge's id is in the path asked for, its template in the label; a path no route knows is one label.
    assert "/v1/auth/challenges/{challenge_id}/send" in routes(gateway)
    assert value(gateway, "sekisho_http_requests_total", route="unmatched", status="404") == 1
    assert probe not in gateway
    assert 'sekisho_outbox_depth{service="gateway"}' in gateway

    auth = await scrape(system, "auth")
    assert value(auth, "sekisho_auth_lockouts_total", side="known", kind="password", lock="temporary") == 1
    assert value(auth, "sekisho_auth_lockouts_total", lock="hard") == 0
    assert value(auth, "sekisho_http_requests_total", service="auth", route="/internal/step-up/redeem") >= 1
    assert value(auth, "sekisho_outbox_oldest_age_seconds", service="auth") >= 0
    assert 'sekisho_outbox_depth{service="auth"}' in auth

    fraud = await scrape(system, "fraud")
    assert value(fraud, "sekisho_fraud_scores_total", operation="login") >= 6  # the full login and the five failures
    assert value(fraud, "sekisho_fraud_scores_total", operation="profile_change") == 2  # asked, then granted

    async def delivered() -> bool:
        notify = await scrape(system, "notify")
        return value(notify, "sekisho_notify_deliveries_total", channel="sms", outcome="sent") >= 2

    await eventually_async(delivered)  # the login's and the step-up's codes
    notify = await scrape(system, "notify")
    assert value(notify, "sekisho_notify_deliveries_total", outcome="dead") == 0

    for service in SERVICES:
        await scrape(system, service)
        text = await scrape(system, service)  # the scrape before is counted, under its route
        assert value(text, "sekisho_http_requests_total", service=service, route="/metrics", status="200") >= 1
        for secret in (customer_id, CUSTOMER["email"], "new.hanako@example.jp", str(tokens["access_token"])):
            assert secret not in text, (service, secret)
        assert not any(route.startswith("/v1/") and "cus_" in route for route in routes(text))


async def test_only_allowed_networks_scrape_and_internal_metrics_are_not_public(system: System) -> None:
    for service in SERVICES:
        async with scraper(system, service, peer="203.0.113.9") as outside:
            refused = await outside.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert refused.status_code == 404, service
        assert refused.json()["code"] == "not_found"
        assert "sekisho_" not in refused.text
    # Through the gateway's proxy no service's /metrics is reached: only the gateway's own, for loopback here.
    for path in ("/v1/metrics", "/internal/metrics", "/metrics/"):
        assert "sekisho_http_requests_total" not in (await system.gateway.get(path)).text


@pytest.fixture
async def behind_proxy(backend: Backend) -> AsyncIterator[System]:
    overrides = {"gateway": {"metrics_networks": "10.20.0.0/16", "trusted_proxies": "10.9.0.0/16"}}
    async with in_process_system(backend, overrides) as running:
        yield running


async def test_the_gateway_checks_the_client_behind_its_trusted_proxies(behind_proxy: System) -> None:
    async def status(peer: str, forwarded: str | None = None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        async with scraper(behind_proxy, "gateway", peer=peer) as client:
            return (await client.get("/metrics", headers=headers)).status_code

    assert await status("10.9.0.1", "10.20.3.4") == 200  # a scraper in the allowed network, through the proxy
    assert await status("10.9.0.1", "203.0.113.5") == 404  # a stranger through the proxy
    assert await status("10.9.0.1", "10.20.3.4, 203.0.113.5") == 404  # a forged hop on the left is not believed
    assert await status("203.0.113.5", "10.20.3.4") == 404  # X-Forwarded-For from an untrusted peer
    assert await status("127.0.0.1") == 404  # loopback is no longer in the allowed networks
