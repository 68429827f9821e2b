"""Risk-based authentication at the gateway, end to end: the shipped policy, fraud's score and auth's step-up.

The whole system runs in-process. Between the gateway and fraud sits a switch that can take fraud down or make it
answer a chosen score (the gateway's bands, deterministically); without a chosen score the real fraud service
answers. Between the gateway and auth sits a recorder of what reached auth's public routes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekisho.sinks import SmsSink, SmtpSink
from services.gateway.policy import SHIPPED_POLICY, load_policy
from services.gateway.routes import PUBLIC_ROUTES, Route
from shared.clock import FrozenClock
from shared.tokens import Factor, Method, TokenSigner
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import DEVICE, full_login, grant_by_sms, login, stepped_up
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, in_process_system
from tests.servers import eventually_async


class FraudSwitch(httpx.AsyncBaseTransport):
    """fraud as the gateway sees it: the real service, or down, or a chosen answer to `/score`."""

    def __init__(self, real: httpx.AsyncBaseTransport) -> None:
        self.real = real
        self.down = False
        self.answer: dict[str, Any] | None = None
        self.scored: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("fraud is down", request=request)
        if request.url.path == "/score":
            self.scored.append(request.content.decode())
            if self.answer is not None:
                fixed = {"score_id": "scr_test", "reasons": [], "summary": "", "rule_set_version": 1}
                return httpx.Response(200, json={**fixed, **self.answer})
        return await self.real.handle_async_request(request)


class Recorder(httpx.AsyncBaseTransport):
    """auth as the gateway sees it, noting every request that reaches one of its public routes."""

    def __init__(self, real: httpx.AsyncBaseTransport) -> None:
        self.real = real
        self.public: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith("/internal/"):
            self.public.append((request.method, request.url.path))
        return await self.real.handle_async_request(request)


@asynccontextmanager
async def allowing_system(
    backend: Backend, overrides: dict[str, dict[str, Any]], **kwargs: Any
) -> AsyncIterator[System]:
    """The system with fraud's score, as the gateway sees it, fixed at allow (the decisions a test makes there do not
    depend on it) and the requests reaching txn's public routes recorded (`system.txn`). `kwargs`: in_process_system's
    other arguments, but gateway_transports."""
    wrapped: dict[str, Any] = {}

    def wrap(transports: dict[str, httpx.AsyncBaseTransport]) -> dict[str, httpx.AsyncBaseTransport]:
        wrapped["fraud"] = FraudSwitch(transports["fraud"])
        wrapped["txn"] = Recorder(transports["txn"])
        return {**transports, **wrapped}

    kwargs.setdefault("clock", FrozenClock(datetime.now(UTC)))
    async with in_process_system(backend, overrides, gateway_transports=wrap, **kwargs) as running:
        wrapped["fraud"].answer = {"score": 0, "action": "allow"}
        running.txn = wrapped["txn"]  # type: ignore[attr-defined]
        yield running


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    wrapped: dict[str, Any] = {}

    def wrap(transports: dict[str, httpx.AsyncBaseTransport]) -> dict[str, httpx.AsyncBaseTransport]:
        wrapped["fraud"] = FraudSwitch(transports["fraud"])
        for service in ("auth", "kyc", "txn"):  # the services of customer routes
            wrapped[service] = Recorder(transports[service])
        return {**transports, **wrapped}

    async with in_process_system(
        backend, overrides, clock=FrozenClock(datetime.now(UTC)), gateway_transports=wrap
    ) as running:
        running.fraud = wrapped["fraud"]  # type: ignore[attr-defined]
        running.auth = wrapped["auth"]  # type: ignore[attr-defined]
        running.recorders = {name: wrapped[name] for name in ("auth", "kyc", "txn")}  # type: ignore[attr-defined]
        yield running


def fraud(system: System) -> FraudSwitch:
    switch: FraudSwitch = system.fraud  # type: ignore[attr-defined]
    return switch


def auth_saw(system: System) -> list[tuple[str, str]]:
    recorder: Recorder = system.auth  # type: ignore[attr-defined]
    return recorder.public


def service_saw(system: System, service: str) -> list[tuple[str, str]]:
    recorders: dict[str, Recorder] = system.recorders  # type: ignore[attr-defined]
    return recorders[service].public


def bearer(tokens: dict[str, object], **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}", **more}


async def grant_from(system: System, sms: SmsSink, refused: httpx.Response) -> str:
    return await grant_by_sms(system, sms, refused.json()["challenge"]["id"])


async def email_now(system: System, sms: SmsSink, tokens: dict[str, object]) -> str:
    me = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    email: str = me.json()["email"]
    return email


@pytest.mark.req("AUTH-EACH-1", "AUTH-ATTR-1")
async def test_a_grant_is_bound_to_the_changed_value_and_works_once(system: System, sms: SmsSink) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)  # a fresh MFA login: still a factor for this very change

    def change(email: str, grant: str | None = None) -> Any:
        extra = {"Step-Up-Grant": grant} if grant else {}
        return system.gateway.patch("/v1/me", json={"email": email}, headers=bearer(tokens, **extra))

    first = await change("one@example.jp")
    assert first.status_code == 401
    challenge = first.json()["challenge"]
    assert first.json()["code"] == "step_up_required"
    assert first.headers["www-authenticate"] == (
        'Bearer realm="sekisho", error="insufficient_user_authentication", acr_values="aal2", max_age=60'
    )
    assert challenge["operation"] == "profile_change"
    assert challenge["caution"]
    assert challenge["expires_in"] > 0
    assert set(challenge["methods"]) <= {"totp", "sms", "email"}
    grant = await grant_from(system, sms, first)

    other = await change("two@example.jp", grant)
    assert other.status_code == 401
    assert "grant_invalid" in other.json()["reasons"]
    assert await email_now(system, sms, tokens) == CUSTOMER["email"]

    used = await change("one@example.jp", grant)
    assert used.status_code == 200, used.text
    again = await change("one@example.jp", grant)
    assert again.status_code == 401
    assert "grant_invalid" in again.json()["reasons"]
    assert ("PATCH", "/v1/me") in auth_saw(system)
    assert auth_saw(system).count(("PATCH", "/v1/me")) == 1  # only the granted request reached auth


@pytest.mark.req("AUTH-EACH-1")
async def test_a_grant_expires_within_60_seconds(system: System, sms: SmsSink) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    body = {"address": "東京都千代田区丸の内1-1-1"}
    first = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens))
    grant = await grant_from(system, sms, first)
    system.clock.advance(61)  # type: ignore[attr-defined]
    late = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert late.status_code == 401
    assert "grant_invalid" in late.json()["reasons"]
    assert ("PATCH", "/v1/me") not in auth_saw(system)


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1")
async def test_a_one_factor_login_must_prove_possession_before_the_customer_sees_their_data(
    system: System, sms: SmsSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    await full_login(system, sms)  # makes the device known
    one_factor = await login(system.gateway)  # the known device: the password alone gives a token
    assert one_factor.status_code == 200
    tokens = one_factor.json()
    assert [f["method"] for f in tokens_amr(tokens)] == ["pwd"]
    for path in ("/v1/me", "/v1/me/devices"):
        refused = await system.gateway.get(path, headers=bearer(tokens))
        assert refused.status_code == 401, path
        assert refused.json()["factors"] == ["possession"]
    assert not [seen for seen in auth_saw(system) if seen[1].startswith("/v1/me")]
    seen = await stepped_up(system, sms, lambda grant: system.gateway.get("/v1/me", headers=bearer(tokens, **grant)))
    assert seen.status_code == 200
    assert seen.json()["email"] == CUSTOMER["email"]


def tokens_amr(tokens: dict[str, Any]) -> list[dict[str, Any]]:
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    amr: list[dict[str, Any]] = claims["amr"]
    return amr


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1", "AUTH-EACH-1")
async def test_no_customer_route_reaches_its_service_on_a_one_factor_session_without_a_grant(
    system: System, sms: SmsSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    await full_login(system, sms)
    tokens = (await login(system.gateway)).json()
    customer_routes = [route for route in PUBLIC_ROUTES if route.caller == "customer"]
    assert len(customer_routes) >= 6
    for route in customer_routes:
        path = route.path.replace("{", "").replace("}", "")
        response = await system.gateway.request(route.method, path, json={}, headers=bearer(tokens))
        if _SHIPPED.operations[route.operation].kyc_required:  # a new account is unverified: refused before step-up
            assert (response.status_code, response.json()["code"]) == (403, "kyc_required"), route.path
            continue
        assert response.status_code == 401, (route.path, response.text)
        assert response.json()["code"] == "step_up_required"
    guarded = {(route.method, route.path) for route in customer_routes}
    assert not guarded & set(auth_saw(system))
    assert auth_saw(system).count(("POST", "/v1/auth/login")) == 2


@pytest.mark.req("AUTH-EACH-1")
async def test_an_authenticator_enrolment_is_stepped_up_once_and_its_confirm_continues_it(
    system: System, sms: SmsSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    started = await stepped_up(
        system, sms, lambda grant: system.gateway.post("/v1/auth/totp", headers=bearer(tokens, **grant))
    )
    assert started.status_code == 201
    code = pyotp.TOTP(started.json()["secret"]).at(system.clock.timestamp())
    confirmed = await system.gateway.post("/v1/auth/totp/confirm", json={"code": code}, headers=bearer(tokens))
    assert confirmed.status_code == 200, confirmed.text


async def test_a_score_in_the_step_up_band_asks_even_an_mfa_session_for_a_factor_to_see_data(
    system: System, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    fraud(system).answer = {"score": 50, "action": "step_up"}
    refused = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert refused.status_code == 401
    assert "risk_step_up" in refused.json()["reasons"]
    seen = await stepped_up(system, sms, lambda grant: system.gateway.get("/v1/me", headers=bearer(tokens, **grant)))
    assert seen.status_code == 200


async def test_a_score_in_the_deny_band_is_refused_for_views_changes_and_logins(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    fraud(system).answer = {"score": 90, "action": "deny"}
    view = await system.gateway.get("/v1/me", headers=bearer(tokens))
    change = await system.gateway.patch("/v1/me", json={"email": "x@example.jp"}, headers=bearer(tokens))
    again = await login(system.gateway)
    for refused in (view, change, again):
        assert refused.status_code == 403
        assert refused.json()["code"] == "operation_denied"
        assert "risk_deny" in refused.json()["reasons"]
        assert "access_token" not in refused.text
    assert auth_saw(system).count(("POST", "/v1/auth/login")) == 1  # the refused login never reached auth


async def test_changes_fail_closed_when_fraud_cannot_score_and_views_stay_served(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    fraud(system).down = True
    change = await system.gateway.patch("/v1/me", json={"email": "x@example.jp"}, headers=bearer(tokens))
    assert change.status_code == 503
    assert change.json()["code"] == "service_unavailable"
    assert change.headers["retry-after"]
    password = await system.gateway.put(
        "/v1/me/password",
        json={"current_password": CUSTOMER["password"], "new_password": "Yuzu-Hikari-77?"},
        headers=bearer(tokens),
    )
    assert password.status_code == 503
    view = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert view.status_code == 200
    assert view.json()["email"] == CUSTOMER["email"]
    assert (await login(system.gateway)).status_code == 200  # a login is scored but not closed by fraud's absence
    assert ("PATCH", "/v1/me") not in auth_saw(system)
    assert ("PUT", "/v1/me/password") not in auth_saw(system)


async def test_the_real_fraud_service_scores_with_the_callers_context_and_its_deny_list_stops_the_customer(
    system: System, sms: SmsSink
) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).status_code == 200
    sent = [body for body in fraud(system).scored if '"profile_view"' in body]
    assert sent
    assert customer_id in sent[-1]
    assert '"ip"' in sent[-1]
    assert any(DEVICE in body for body in fraud(system).scored if '"login"' in body)  # the app's device id

    supervisor = await staff_token(system, await make_staff(system, "supervisor.sato", "supervisor"))
    listed = await system.gateway.put(
        "/v1/ops/fraud/lists/customers/entries",
        json={"value": customer_id, "note": "confirmed takeover, case 42"},
        headers={"Authorization": f"Bearer {supervisor}"},
    )
    assert listed.status_code in (200, 201), listed.text

    async def refused() -> bool:
        response = await system.gateway.get("/v1/me", headers=bearer(tokens))
        return response.status_code == 403 and response.json()["code"] == "operation_denied"

    await eventually_async(refused)


@pytest.mark.req("SEC-4")
async def test_an_address_on_frauds_deny_list_is_refused_at_the_door_but_staff_can_still_lift_it(
    system: System, sms: SmsSink
) -> None:
    supervisor = await staff_token(system, await make_staff(system, "supervisor.sato", "supervisor"))
    staff = {"Authorization": f"Bearer {supervisor}"}
    entry = {"value": "127.0.0.0/24", "note": "credential stuffing from this network"}
    listed = await system.gateway.put("/v1/ops/fraud/lists/ips/entries", json=entry, headers=staff)
    assert listed.status_code in (200, 201), listed.text

    # Probed with a refresh (not scored, not rate limited): refused at the door, or answered by auth.
    async def door(status: int) -> bool:
        response = await system.gateway.post("/v1/auth/refresh", json={"refresh_token": "rt_" + "0" * 40})
        return response.status_code == status

    await eventually_async(lambda: door(403), within=5)
    refused = await system.gateway.post("/v1/accounts", json=CUSTOMER)
    assert (refused.status_code, refused.json()["code"]) == (403, "ip_denied")
    assert ("POST", "/v1/accounts") not in auth_saw(system)
    assert (await system.gateway.get("/v1/ops/fraud/cases", headers=staff)).status_code == 200  # staff still in
    lifted = await system.gateway.request(
        "DELETE", "/v1/ops/fraud/lists/ips/entries", params={"value": "127.0.0.0/24"}, headers=staff
    )
    assert lifted.status_code == 200, lifted.text
    await eventually_async(lambda: door(401), within=5)


async def test_step_ups_and_refusals_reach_frauds_event_search(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    fraud(system).answer = {"score": 0, "action": "allow"}
    changed = await stepped_up(
        system,
        sms,
        lambda grant: system.gateway.patch(
            "/v1/me", json={"address": "大阪府大阪市北区梅田1-1"}, headers=bearer(tokens, **grant)
        ),
    )
    assert changed.status_code == 200
    fraud(system).answer = {"score": 95, "action": "deny"}
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).status_code == 403
    analyst = await staff_token(system, await make_staff(system, "analyst.ito", "analyst"))

    async def recorded() -> bool:
        found = await system.gateway.get(
            "/v1/ops/fraud/events",
            params={"customer_id": customer_id, "type": "gateway_decision"},
            headers={"Authorization": f"Bearer {analyst}"},
        )
        assert found.status_code == 200, found.text
        outcomes = sorted(event["outcome"] for event in found.json()["events"])
        return outcomes == ["denied", "step_up_passed", "step_up_required"]

    await eventually_async(recorded)


# --- a property through the whole system: minted tokens with any factors, any score ---------------------------

_AGES = (5, 0, 59, 61, -6, 600, 1799, 1801, 7200)
_CUSTOMER_ROUTES = [route for route in PUBLIC_ROUTES if route.caller == "customer"]
_SHIPPED = load_policy(SHIPPED_POLICY)


@st.composite
def _minted(draw: st.DrawFn) -> tuple[Route, list[tuple[Method, int]], int]:
    route = draw(st.sampled_from(_CUSTOMER_ROUTES))
    methods: tuple[Method, ...] = ("pwd", "sms", "email", "totp", "pwd")
    factors = draw(
        st.lists(
            st.builds(lambda m, a: (m, a), st.sampled_from(methods), st.sampled_from(_AGES)), min_size=1, max_size=3
        )
    )
    score = draw(st.sampled_from((0, 10, 40, 90)))
    return route, factors, score


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1", "AUTH-EACH-1")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_request_short_of_its_factors_ever_reaches_its_service(
    system: System, sms: SmsSink, data: st.DataObject
) -> None:
    """Tokens are minted with auth's own key for a real session, with any factors of any age; fraud answers
    any score. Whatever reaches a customer route's service had what the shipped policy demands, checked here
    independently of the gateway's code."""
    setup = getattr(system, "minting", None)
    if setup is None:
        await open_account(system.gateway)
        real = await full_login(system, sms)
        claims = jwt.decode(str(real["access_token"]), options={"verify_signature": False})
        kid = jwt.get_unverified_header(str(real["access_token"]))["kid"]
        signer = TokenSigner(SIGNING_KEY, kid=kid, clock=system.clock)
        setup = (signer, claims)
        system.minting = setup  # type: ignore[attr-defined]
        now = int(system.clock.timestamp())
        both = (Factor.of("pwd", now - 5), Factor.of("sms", now - 5))
        minted = signer.issue(
            subject=claims["sub"], session_id=claims["sid"], device_id=claims.get("did"), factors=both
        )
        fraud(system).answer = {"score": 0, "action": "allow"}
        seen = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {minted.token}"})
        assert seen.status_code == 200, seen.text  # a minted token is believed: the property below is not vacuous
    signer, claims = setup
    route, aged, score = data.draw(_minted())
    now = int(system.clock.timestamp())
    factors = tuple(Factor.of(method, now - age) for method, age in aged)
    token = signer.issue(
        subject=claims["sub"], session_id=claims["sid"], device_id=claims.get("did"), factors=factors
    ).token
    fraud(system).answer = {"score": score, "action": "deny" if score >= 85 else "allow"}
    service_saw(system, route.service).clear()
    path = route.path.replace("{", "").replace("}", "")
    response = await system.gateway.request(route.method, path, json={}, headers={"Authorization": f"Bearer {token}"})
    # The path as sent (a route may have parameters); customer routes keep their path at the service.
    reached = (route.method, path) in service_saw(system, route.service)
    if not reached:
        assert response.status_code in (401, 403), response.text
        return
    rule = _SHIPPED.operations[route.operation]
    fresh = [f for f in factors if f.method not in rule.refuse_methods and now - f.at >= -5]
    if rule.login_max_age:
        fresh = [f for f in fresh if now - f.at <= rule.login_max_age]
    assert {f.cls for f in fresh} >= set(rule.factors)  # by class: two codes of one class are one factor
    assert not rule.step_up or route.continues  # no grant was presented: only a continuation may pass
    assert score < rule.risk.deny


async def test_a_signed_in_customer_gets_at_most_120_requests_a_minute(system: System, sms: SmsSink) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    statuses = [(await system.gateway.get("/v1/me/devices", headers=bearer(tokens))).status_code for _ in range(120)]
    assert statuses == [200] * 120
    limited = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert auth_saw(system).count(("GET", "/v1/me")) == 0  # the refused request never reached auth
    system.clock.advance(60)  # type: ignore[attr-defined]
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).status_code == 200
