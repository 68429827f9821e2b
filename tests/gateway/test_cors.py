"""CORS on the customer API (SEKISHO_CORS_ORIGINS), through the gateway: preflights answered by the gateway alone,
answers readable by the configured origins only, and nothing for the ops and partner APIs or any other origin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from sekisho.sinks import SmsSink, SmtpSink
from services.gateway.settings import DEFAULT_RATE_LIMITS, GatewaySettings, RateLimit
from tests.auth.conftest import SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login
from tests.harness import Backend, System, in_process_system

APP = "https://app.example.jp"
ALSO = "https://m.example.jp:8443"
LOGIN_LIMIT = 3
NO_ONE = {"login_id": "nobody@example.jp", "password": "Kiso-Mikan-42!", "device_id": "dev-cors-1"}


class Counted(httpx.AsyncBaseTransport):
    """A service as the gateway sees it, counting every request that reaches it (but the gateway's own polling of
    fraud's denied addresses, which runs whatever the callers do)."""

    def __init__(self, real: httpx.AsyncBaseTransport, seen: list[str]) -> None:
        self.real = real
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/internal/lists/ips/denied":
            self.seen.append(f"{request.method} {request.url.path}")
        return await self.real.handle_async_request(request)


@pytest.fixture
async def reached() -> list[str]:
    return []


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, reached: list[str]) -> AsyncIterator[System]:
    limits = (
        *(limit for limit in DEFAULT_RATE_LIMITS if limit.operation != "login"),
        RateLimit(operation="login", per="ip", limit=LOGIN_LIMIT, window_seconds=60),
    )
    overrides = {
        "gateway": {"cors_origins": f"{APP}, {ALSO}", "rate_limits": limits},
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(
        backend,
        overrides,
        gateway_transports=lambda transports: {name: Counted(t, reached) for name, t in transports.items()},
    ) as running:
        yield running


def preflight(path: str, origin: str, method: str = "POST", headers: str | None = None) -> dict[str, str]:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        asked["Access-Control-Request-Headers"] = headers
    return asked


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def vary(response: httpx.Response) -> list[str]:
    return [part.strip().lower() for part in response.headers.get("vary", "").split(",") if part.strip()]


async def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway_alone(
    system: System, reached: list[str]
) -> None:
    asked = "authorization, content-type, idempotency-key, step-up-grant, x-request-id"
    answer = await system.gateway.options("/v1/auth/login", headers=preflight("/v1/auth/login", APP, "POST", asked))
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["access-control-allow-methods"] == "POST"
    allowed = {name.strip().lower() for name in answer.headers["access-control-allow-headers"].split(",")}
    assert set(asked.split(", ")) <= allowed
    assert int(answer.headers["access-control-max-age"]) > 0
    assert "origin" in vary(answer)
    # Bearer tokens, no cookies: never credentials, never a wildcard.
    assert "access-control-allow-credentials" not in answer.headers
    assert "*" not in answer.headers["access-control-allow-origin"]
    # A path with parameters: the methods that path has, and only those.
    other = await system.gateway.options("/v1/me/passkeys/pk_1", headers=preflight("", ALSO, "PATCH"))
    assert other.status_code == 204
    assert other.headers["access-control-allow-origin"] == ALSO
    assert other.headers["access-control-allow-methods"] == "DELETE, PATCH"
    assert reached == []  # no service saw a preflight


async def test_preflights_are_never_rate_limited_and_the_limited_answer_is_readable(
    system: System, reached: list[str]
) -> None:
    for _ in range(LOGIN_LIMIT * 5):
        answer = await system.gateway.options("/v1/auth/login", headers=preflight("", APP, "POST", "content-type"))
        assert answer.status_code == 204
    assert reached == []
    statuses = []
    for _ in range(LOGIN_LIMIT + 1):
        response = await system.gateway.post("/v1/auth/login", json=NO_ONE, headers={"Origin": APP})
        statuses.append(response.status_code)
    assert statuses[-1] == 429, statuses
    assert 429 not in statuses[:-1]  # the preflights counted for nothing
    # The page can read the 429 and when to try again.
    assert response.headers["access-control-allow-origin"] == APP
    assert "retry-after" in response.headers
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-request-id", "www-authenticate"} <= exposed
    assert (await system.gateway.options("/v1/auth/login", headers=preflight("", APP))).status_code == 204


async def test_answers_to_an_allowed_origin_carry_it_and_the_step_up_challenge_is_readable(
    system: System, sms: SmsSink
) -> None:
    unauthenticated = await system.gateway.get("/v1/me", headers={"Origin": APP})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == APP
    assert "www-authenticate" in unauthenticated.headers
    assert "access-control-allow-credentials" not in unauthenticated.headers
    assert "origin" in vary(unauthenticated)

    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    stepped = await system.gateway.post(
        "/v1/auth/totp", headers={"Origin": APP, "Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert stepped.status_code == 401, stepped.text
    assert stepped.json()["code"] == "step_up_required"
    assert stepped.headers["access-control-allow-origin"] == APP
    assert 'error="insufficient_user_authentication"' in stepped.headers["www-authenticate"]
    exposed = {name.strip().lower() for name in stepped.headers["access-control-expose-headers"].split(",")}
    assert {"www-authenticate", "x-request-id"} <= exposed
    # The same customer's answer to a page of no configured origin: nothing a browser would let it read.
    foreign = await system.gateway.get(
        "/v1/me", headers={"Origin": "https://evil.test", "Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert foreign.status_code == 200
    assert cors_headers(foreign) == {}
    assert "origin" in vary(foreign)  # a cache must not hand the allowed origin's answer to another


ATTACKER_ORIGINS = (
    "https://app.example.jp.evil.test",  # the allowed origin as a prefix
    "https://evilapp.example.jp",  # as a suffix
    "https://evil.app.example.jp",  # a subdomain of it
    "http://app.example.jp",  # the scheme counts
    "https://app.example.jp:444",  # so does the port
    "https://m.example.jp",  # the other allowed origin without its port
    "null",  # sandboxed frames, file: pages: never
    "https://app.example.jp/",  # not how a browser writes an origin
    "https://app.example.jp, https://evil.test",
    "*",
)


async def test_an_origin_not_configured_gets_no_cors_header_at_all(system: System, reached: list[str]) -> None:
    for origin in ATTACKER_ORIGINS:
        refused = await system.gateway.options("/v1/auth/login", headers=preflight("", origin, "POST", "content-type"))
        assert refused.status_code == 403, origin
        assert refused.json()["code"] == "cors_refused"
        assert cors_headers(refused) == {}, origin
        answered = await system.gateway.get("/v1/me", headers={"Origin": origin})
        assert answered.status_code == 401
        assert cors_headers(answered) == {}, origin
    assert reached == []


async def test_a_preflight_for_a_method_or_header_the_api_lacks_is_refused(system: System, reached: list[str]) -> None:
    for asked in (
        preflight("", APP, "DELETE"),  # /v1/auth/login is POST only
        preflight("", APP, "PUT"),
        preflight("", APP, "post"),  # methods are case-sensitive: no route answers `post`
        preflight("", APP, "POST", "content-type, x-sekisho-identity"),  # the internal identity header
        preflight("", APP, "POST", "cookie"),
    ):
        refused = await system.gateway.options("/v1/auth/login", headers=asked)
        assert refused.status_code == 403, asked
        assert refused.json()["code"] == "cors_refused"
        assert cors_headers(refused) == {}
    assert reached == []


OTHER_APIS = (
    ("POST", "/v1/ops/auth/login"),  # the console is same-origin
    ("GET", "/v1/ops/kill-switches"),
    ("POST", "/v1/atm/ping"),  # partners call server to server
    ("POST", "/v1/atm/withdrawals/authorize"),
    ("GET", "/healthz"),
    ("GET", "/v1/no-such-route"),
)


async def test_only_the_customer_api_takes_part(system: System) -> None:
    for method, path in OTHER_APIS:
        answered = await system.gateway.options(path, headers=preflight("", APP, method, "authorization"))
        assert answered.status_code != 204, path
        assert cors_headers(answered) == {}, path
        actual = await system.gateway.request(method, path, headers={"Origin": APP})
        assert cors_headers(actual) == {}, path


@pytest.fixture
async def plain(backend: Backend, reached: list[str]) -> AsyncIterator[System]:
    async with in_process_system(
        backend, gateway_transports=lambda transports: {name: Counted(t, reached) for name, t in transports.items()}
    ) as running:
        yield running


async def test_without_configured_origins_there_is_no_cors_at_all(plain: System, reached: list[str]) -> None:
    assert GatewaySettings().cors_origins == ()
    answered = await plain.gateway.options("/v1/auth/login", headers=preflight("", APP, "POST"))
    assert answered.status_code == 405
    assert cors_headers(answered) == {}
    actual = await plain.gateway.post("/v1/auth/login", json=NO_ONE, headers={"Origin": APP})
    assert actual.status_code == 401
    assert cors_headers(actual) == {}
    assert "origin" not in vary(actual)
    assert "OPTIONS /v1/auth/login" not in reached


@pytest.mark.parametrize("bad", ["null", "*", "https://app.example.jp/path", "app.example.jp", "ftp://app.example.jp"])
def test_a_configured_origin_must_be_an_exact_http_origin(bad: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(cors_origins=f"{APP},{bad}")


def test_configured_origins_are_compared_as_browsers_write_them() -> None:
    settings = GatewaySettings(
        cors_origins="HTTPS://App.Example.JP:443/, https://m.example.jp:8443,https://app.example.jp"
    )
    assert settings.cors_origins == ("https://app.example.jp", "https://m.example.jp:8443")
