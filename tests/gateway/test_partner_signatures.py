"""Partner ATM networks sign every request (RFC 9421, hmac-sha256); the gateway refuses whatever does not check out."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from services.gateway import partners
from services.gateway.app import create_app
from services.gateway.policy import SHIPPED_POLICY
from services.gateway.routes import Route
from services.gateway.signatures import (
    SignatureInvalid,
    SignedMessage,
    check_content_digest,
    hmac_sha256,
    parse_signature,
    signature_base,
)
from shared.clock import FrozenClock
from shared.contracts.scoring import ScoreAnswer
from shared.middleware import IDENTITY_HEADER
from shared.service import ServiceState
from tests.gateway.partner_client import sign
from tests.harness import Backend, client_for, identity_verifier, migrate, running

PING = "http://testserver/v1/atm/ping"
# The test clients call the gateway at testserver; behind a TLS proxy partners sign https://testserver.
ORIGINS = "http://testserver,https://testserver"
BODY = b'{"hello": "sekisho"}'


@dataclass
class Gateway:
    app: FastAPI
    clock: FrozenClock
    client: httpx.AsyncClient

    @property
    def state(self) -> ServiceState:
        state: ServiceState = self.app.state.service
        return state

    async def create_partner(self, name: str, allow: list[str] | None = None) -> dict[str, str]:
        async with self.state.database.transaction() as session:
            return await partners.create_partner(
                session, name=name, allowed_cidrs=allow, cipher=self.state.cipher, now=self.clock.now()
            )

    async def rotate(self, name: str, hours: float) -> dict[str, str]:
        async with self.state.database.transaction() as session:
            return await partners.rotate_partner_key(
                session, name=name, overlap=timedelta(hours=hours), cipher=self.state.cipher, now=self.clock.now()
            )

    async def revoke(self, name: str, key_id: str | None = None) -> list[str]:
        async with self.state.database.transaction() as session:
            return await partners.revoke_partner(session, name=name, key_id=key_id, now=self.clock.now())

    def signed(
        self, credentials: dict[str, str], body: bytes = BODY, url: str = PING, **options: object
    ) -> dict[str, str]:
        headers = sign(
            "POST",
            url,
            body,
            key_id=credentials["key_id"],
            secret=credentials["secret"],
            created=int(self.clock.timestamp()),
            **options,  # type: ignore[arg-type]
        )
        return {"Content-Type": "application/json", **headers}

    async def ping(self, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
        return await self.client.post("/v1/atm/ping", content=body, headers=headers)


@pytest.fixture
async def gateway(backend: Backend) -> AsyncIterator[Gateway]:
    await migrate(backend, "gateway")
    clock = FrozenClock()
    app = create_app(backend.settings("gateway", public_origins=ORIGINS), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        yield Gateway(app, clock, client)


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert (body["code"], body["reason"]) == ("signature_invalid", reason), body
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_correctly_signed_ping_answers_the_partner_and_its_key(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    response = await gateway.ping(gateway.signed(atm))
    assert response.status_code == 200, response.text
    assert response.json() == {"partner": "seven-atm", "key_id": atm["key_id"]}


async def test_a_replayed_request_is_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    headers = gateway.signed(atm)
    assert (await gateway.ping(headers)).status_code == 200
    refused(await gateway.ping(headers), "replayed")


async def test_a_nonce_is_refused_even_in_a_new_signature(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    assert (await gateway.ping(gateway.signed(atm, nonce="n-1"))).status_code == 200
    gateway.clock.advance(10)
    refused(await gateway.ping(gateway.signed(atm, nonce="n-1")), "replayed")


async def test_a_signature_older_or_newer_than_the_window_is_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    headers = gateway.signed(atm)
    gateway.clock.advance(301)
    refused(await gateway.ping(headers), "stale")
    from_the_future = gateway.signed(atm)
    gateway.clock.advance(-302)
    refused(await gateway.ping(from_the_future), "stale")


async def test_a_signature_made_with_another_key_is_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    forged = {"key_id": atm["key_id"], "secret": partners.encode_secret(os.urandom(32))}
    refused(await gateway.ping(gateway.signed(forged)), "mismatch")
    unknown = {"key_id": "pkey_unknown", "secret": atm["secret"]}
    refused(await gateway.ping(gateway.signed(unknown)), "unknown_key")


async def test_an_unsigned_call_is_refused(gateway: Gateway) -> None:
    response = await gateway.ping({"Content-Type": "application/json"})
    refused(response, "unsigned")
    assert "expected" not in response.text.lower()


async def test_a_tampered_body_is_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    headers = gateway.signed(atm)
    refused(await gateway.ping(headers, body=b'{"hello": "tampered"}'), "digest")


async def test_a_body_digest_outside_the_signature_is_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    headers = gateway.signed(atm, components=("@method", "@target-uri"))
    refused(await gateway.ping(headers), "components")
    without_target = gateway.signed(atm, components=("@method", "content-digest"))
    refused(await gateway.ping(without_target), "components")


async def test_a_revoked_key_and_a_disabled_partner_are_refused(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    second = await gateway.rotate("seven-atm", hours=24)
    assert await gateway.revoke("seven-atm", atm["key_id"]) == [atm["key_id"]]
    refused(await gateway.ping(gateway.signed(atm)), "key_revoked")
    assert (await gateway.ping(gateway.signed(second))).status_code == 200
    await gateway.revoke("seven-atm")
    refused(await gateway.ping(gateway.signed(second)), "partner_disabled")


async def test_after_a_rotation_both_keys_work_until_the_overlap_ends(gateway: Gateway) -> None:
    old = await gateway.create_partner("seven-atm")
    new = await gateway.rotate("seven-atm", hours=24)
    assert new["key_id"] != old["key_id"]
    gateway.clock.advance(hours=23)
    for credentials in (old, new):
        response = await gateway.ping(gateway.signed(credentials))
        assert response.status_code == 200
        assert response.json()["key_id"] == credentials["key_id"]
    gateway.clock.advance(hours=1, seconds=1)
    refused(await gateway.ping(gateway.signed(old)), "key_expired")
    assert (await gateway.ping(gateway.signed(new))).json()["key_id"] == new["key_id"]


@pytest.mark.req("SEC-4")
async def test_a_partner_is_refused_outside_its_allowed_networks(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm", allow=["203.0.113.0/24"])
    # client_for's peer is 127.0.0.1: outside the partner's network.
    refused(await gateway.ping(gateway.signed(atm)), "ip_not_allowed")
    inside = httpx.ASGITransport(gateway.app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=inside, base_url="http://testserver") as client:
        response = await client.post("/v1/atm/ping", content=BODY, headers=gateway.signed(atm))
    assert response.status_code == 200, response.text


@pytest.mark.req("SEC-4")
async def test_the_allow_list_believes_x_forwarded_for_only_from_a_trusted_proxy(backend: Backend) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    for trusted, expected in (("", 401), ("127.0.0.0/8", 200)):
        await migrate(backend, "gateway")
        clock = FrozenClock()
        settings = backend.settings("gateway", trusted_proxies=trusted, public_origins=ORIGINS)
        app = create_app(settings, clock=clock)  # type: ignore[arg-type]
        async with running(app), client_for(app) as client:
            gateway = Gateway(app, clock, client)
            atm = await gateway.create_partner(f"atm-{expected}", allow=["203.0.113.0/24"])
            response = await gateway.ping({**gateway.signed(atm), **forwarded})
        assert response.status_code == expected, response.text


async def test_old_nonces_are_purged_after_twice_the_window(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    assert (await gateway.ping(gateway.signed(atm, nonce="n-old"))).status_code == 200
    gateway.clock.advance(601)
    assert (await gateway.ping(gateway.signed(atm, nonce="n-new"))).status_code == 200
    async with gateway.state.database.transaction() as session:
        assert not await partners.record_nonce(
            session, partner_id=atm["partner_id"], nonce="n-new", now=gateway.clock.now()
        )
        assert await partners.record_nonce(
            session, partner_id=atm["partner_id"], nonce="n-old", now=gateway.clock.now()
        )


# --- RFC 9421 itself, no database ----------------------------------------------------------------------------

# RFC 9421 Appendix B.1.5 (the shared secret) and B.2.5 (a request signed with hmac-sha256).
RFC_SECRET = base64.b64decode(
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)
RFC_BODY = b'{"hello": "world"}'
RFC_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
)


def rfc_request(signature_input: str, signature: str) -> SignedMessage:
    return SignedMessage(
        method="POST",
        scheme="https",
        authority="example.com",
        path="/foo",
        query="param=Value&Pet=dog",
        headers=(
            ("host", "example.com"),
            ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("content-type", "application/json"),
            (
                "content-digest",
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
            ),
            ("content-length", "18"),
            ("signature-input", signature_input),
            ("signature", signature),
        ),
        body=RFC_BODY,
    )


def test_the_rfc_9421_hmac_sha256_example_verifies() -> None:
    message = rfc_request(
        'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
    )
    signature = parse_signature(message)
    assert signature_base(message, signature).decode() == RFC_BASE
    assert hmac_sha256(RFC_SECRET, signature_base(message, signature)) == signature.value
    check_content_digest(message)  # the example's sha-512 digest of its body


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ('sig=("@method" "@target-uri");keyid="k"', "other=:AAAA:"),  # labels differ
        ('sig=("@method""@target-uri");keyid="k"', "sig=:AAAA:"),  # no space between items
        ('sig=("@method" "@target-uri";sf);keyid="k"', "sig=:AAAA:"),  # component parameters
        ('sig=("@method" "@method");keyid="k"', "sig=:AAAA:"),  # a component twice
        ('sig=("@status");keyid="k"', "sig=:AAAA:"),  # a response component
        ('sig=("@method");keyid="k", two=("@method");keyid="k"', "sig=:AAAA:, two=:AAAA:"),
        ('sig=("@method");keyid="k";keyid="j"', "sig=:AAAA:"),  # a parameter twice
        ('sig=("@method");keyid="k\\n"', "sig=:AAAA:"),  # a bad escape
        ('sig=("@method");keyid="k"', "sig=:not base64!:"),
        ('sig=("@method");keyid=k', "sig=:AAAA:"),  # a token, not a string
    ],
)
def test_malformed_signature_headers_are_refused(signature_input: str, signature: str) -> None:
    with pytest.raises(SignatureInvalid) as refused_with:
        parse_signature(rfc_request(signature_input, signature))
    assert refused_with.value.code == "signature_invalid"
    assert refused_with.value.status == 401


async def test_behind_a_trusted_tls_proxy_the_signed_https_url_checks_out(backend: Backend) -> None:
    await migrate(backend, "gateway")
    clock = FrozenClock()
    settings = backend.settings("gateway", trusted_proxies="127.0.0.1/32", public_origins=ORIGINS)
    app = create_app(settings, clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        gateway = Gateway(app, clock, client)
        atm = await gateway.create_partner("seven-atm")
        https = "https://testserver/v1/atm/ping"
        assert (await gateway.ping({**gateway.signed(atm, url=https), "X-Forwarded-Proto": "https"})).status_code == 200
        refused(await gateway.ping(gateway.signed(atm, url=https)), "mismatch")  # the proxy did not say https


async def test_an_untrusted_peer_cannot_claim_https(gateway: Gateway) -> None:
    atm = await gateway.create_partner("seven-atm")
    headers = {**gateway.signed(atm, url="https://testserver/v1/atm/ping"), "X-Forwarded-Proto": "https"}
    refused(await gateway.ping(headers), "mismatch")


def _echo_service(clock: FrozenClock, seen: list[dict[str, object]]) -> FastAPI:
    """A stand-in for the service behind a partner route: it checks and keeps the identity the gateway sent."""
    verifier = identity_verifier("txn", clock)
    app = FastAPI()

    @app.post("/internal/atm/echo")
    async def echo(request: Request) -> JSONResponse:
        identity = verifier.verify(request.headers[IDENTITY_HEADER])
        seen.append(identity.context)
        return JSONResponse({"caller": identity.caller})

    return app


def _fraud_answering(score: int | None) -> FastAPI:
    app = FastAPI()

    @app.post("/score")
    async def answer() -> JSONResponse:
        if score is None:
            return JSONResponse({"code": "internal"}, status_code=500)
        answer = ScoreAnswer(score_id="scr_1", score=score, action="allow", reasons=[], summary="", rule_set_version=1)
        return JSONResponse(answer.model_dump())

    return app


@pytest.mark.parametrize(("score", "status"), [(5, 200), (None, 503), (95, 403)])
async def test_a_partner_route_forwards_the_authenticated_partner_and_fails_closed_without_a_score(
    backend: Backend, score: int | None, status: int, tmp_path: Path
) -> None:
    await migrate(backend, "gateway")
    clock = FrozenClock()
    seen: list[dict[str, object]] = []
    routes = (
        Route("POST", "/v1/atm/echo", "txn", "atm_authorize", caller="partner", upstream_path="/internal/atm/echo"),
    )
    transports = {
        "txn": httpx.ASGITransport(_echo_service(clock, seen)),
        "fraud": httpx.ASGITransport(_fraud_answering(score)),
    }
    # The shipped policy scores no partner operation (txn scores the withdrawal with its customer); one that does
    # must fail closed like any scored operation.
    policy = tmp_path / "policy.toml"
    shipped = SHIPPED_POLICY.read_text()
    scored = '[operations.atm_authorize]\ncallers = ["partner"]\nfactors = []\nfail_closed = true\n'
    policy.write_text(shipped.replace('[operations.atm_authorize]\ncallers = ["partner"]\nfactors = []\n', scored))
    policy.write_text(policy.read_text().replace(scored + "score = false\n", scored))
    assert "score = false" not in policy.read_text().split("[operations.atm_authorize]")[1].split("[operations")[0]
    settings = backend.settings("gateway", public_origins=ORIGINS, policy_file=str(policy))
    app = create_app(settings, clock=clock, transports=transports, routes=routes)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        gateway = Gateway(app, clock, client)
        atm = await gateway.create_partner("seven-atm")
        unsigned = await client.post("/v1/atm/echo", content=BODY, headers={"Content-Type": "application/json"})
        refused(unsigned, "unsigned")
        response = await client.post(
            "/v1/atm/echo", content=BODY, headers=gateway.signed(atm, url="http://testserver/v1/atm/echo")
        )
    assert response.status_code == status, response.text
    if status == 200:
        assert len(seen) == 1
        assert seen[0]["partner_name"] == "seven-atm"
        assert seen[0]["key_id"] == atm["key_id"]
        assert seen[0]["risk"] == {"score": 5, "action": "allow", "score_id": "scr_1"}
    else:
        assert seen == []  # refused or unscored: nothing reached the service
