"""Issue 18: access-token keys named by their RFC 7638 thumbprint, rotated with an overlap, published as a JWKS.

auth signs with the first key of SEKISHO_AUTH_SIGNING_KEYS and publishes every listed key; the gateway verifies by
`kid` against that list. A token of the overlap's key verifies; once the key is dropped (and the gateway has
refreshed, within a minute) it is refused. Made-up key ids, a key id swapped onto another key's signature, `alg: none`
and HS256 keyed with the public key are 401 `unauthorized`, and made-up key ids cannot make the gateway hammer auth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sekisho.services import settings_class
from sekisho.sinks import SmsSink, SmtpSink
from services.auth.runtime import AuthRuntime
from shared.clock import FrozenClock
from shared.tokens import TokenSigner, key_id, load_signing_keys, private_pem, public_pem
from tests.auth.conftest import open_account
from tests.auth.test_api_login import full_login
from tests.harness import Backend, System, in_process_system

NEW, OLD, STRANGER = (Ed25519PrivateKey.generate() for _ in range(3))
KEYS_PATH = "/internal/keys"


class KeyFetches(httpx.AsyncBaseTransport):
    """auth as the gateway sees it, counting the gateway's fetches of the token keys."""

    def __init__(self, real: httpx.AsyncBaseTransport, seen: list[str]) -> None:
        self.real = real
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == KEYS_PATH:
            self.seen.append(KEYS_PATH)
        return await self.real.handle_async_request(request)


@pytest.fixture
async def fetches() -> list[str]:
    return []


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, fetches: list[str]) -> AsyncIterator[System]:
    overrides = {
        # The overlap of a rotation: NEW signs, OLD (listed second) still verifies. The newer setting's name.
        "auth": {"auth_signing_key": None, "auth_signing_keys": private_pem(NEW) + private_pem(OLD)},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(
        backend,
        overrides,
        clock=FrozenClock(datetime.now(UTC)),
        gateway_transports=lambda transports: {**transports, "auth": KeyFetches(transports["auth"], fetches)},
    ) as running:
        yield running


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(genuine: str, key: Ed25519PrivateKey, kid: str) -> str:
    """The genuine token's claims (a live session), signed with `key` and naming `kid`."""
    claims = jwt.decode(genuine, options={"verify_signature": False})
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


async def _me(system: System, token: str) -> httpx.Response:
    return await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    assert response.json()["reason"] == reason


async def test_the_overlap_key_verifies_and_forged_key_ids_and_algorithms_are_refused(
    system: System, sms: SmsSink, fetches: list[str]
) -> None:
    await open_account(system.gateway)
    genuine = str((await full_login(system, sms))["access_token"])
    assert jwt.get_unverified_header(genuine)["kid"] == key_id(NEW)  # the first key signs, named by its thumbprint
    assert (await _me(system, genuine)).status_code == 200

    # A token of the second-listed key (issued before the rotation moved NEW first) still verifies.
    assert (await _me(system, _signed(genuine, OLD, key_id(OLD)))).status_code == 200

    # A key auth never listed, under its own thumbprint or under a listed key's id, is refused.
    _refused(await _me(system, _signed(genuine, STRANGER, key_id(STRANGER))), "unknown_key")
    _refused(await _me(system, _signed(genuine, STRANGER, key_id(NEW))), "signature")
    # A genuine signature under the other listed key's id (a tampered header) does not verify either.
    _refused(await _me(system, _signed(genuine, NEW, key_id(OLD))), "signature")
    _refused(await _me(system, _signed(genuine, NEW, "auth1")), "unknown_key")  # the old fixed name is gone

    # alg none, and HS256 keyed with the published public key (the classic confusion), are refused up front.
    payload = genuine.split(".")[1]
    none = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": key_id(NEW)}).encode())
    _refused(await _me(system, f"{none}.{payload}."), "algorithm")
    for secret in (public_pem(NEW).encode(), NEW.public_key().public_bytes_raw()):
        hs = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key_id(NEW)}).encode())
        mac = hmac.new(secret, f"{hs}.{payload}".encode(), hashlib.sha256).digest()
        _refused(await _me(system, f"{hs}.{payload}.{_b64(mac)}"), "algorithm")

    # Made-up key ids make the gateway ask auth again at most once in its ten seconds, however many come.
    before = len(fetches)
    system.clock.advance(11)  # type: ignore[attr-defined]
    for n in range(20):
        _refused(await _me(system, _signed(genuine, STRANGER, f"forged{n}")), "unknown_key")
    assert len(fetches) - before == 1


async def test_the_jwks_answers_the_published_keys_and_verifies_a_real_token(system: System, sms: SmsSink) -> None:
    answer = await system.gateway.get("/.well-known/jwks.json")  # public: no token
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age=60" in answer.headers["cache-control"]
    assert "public" in answer.headers["cache-control"]
    keys = answer.json()["keys"]
    assert [key["kid"] for key in keys] == [key_id(NEW), key_id(OLD)]  # the signing key first
    for key, private in zip(keys, (NEW, OLD), strict=True):
        assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}  # no private member ("d") ever
        assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
        assert raw == private.public_key().public_bytes_raw()
        # RFC 7638: the kid is the SHA-256 of the required members in lexical order, as anyone can recompute it.
        members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": key["x"]}, separators=(",", ":")).encode()
        assert key["kid"] == _b64(hashlib.sha256(members).digest())

    await open_account(system.gateway)
    genuine = str((await full_login(system, sms))["access_token"])
    jwks = jwt.PyJWKSet.from_dict(answer.json())  # a standard JOSE library, from the JWKS alone
    signing = jwks[jwt.get_unverified_header(genuine)["kid"]]
    claims = jwt.decode(genuine, signing.key, algorithms=["EdDSA"], audience="sekisho", issuer="sekisho-auth")
    assert claims["typ"] == "customer"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(_signed(genuine, STRANGER, key_id(NEW)), signing.key, algorithms=["EdDSA"], audience="sekisho")


async def test_after_the_old_key_is_dropped_its_tokens_are_refused(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    genuine = str((await full_login(system, sms))["access_token"])
    old_token = _signed(genuine, OLD, key_id(OLD))
    assert (await _me(system, old_token)).status_code == 200

    # auth restarted with NEW alone (the rotation's last step).
    runtime: AuthRuntime = system.apps["auth"].state.service.runtime
    runtime.signer = TokenSigner(NEW, clock=system.clock)
    system.clock.advance(61)  # type: ignore[attr-defined]  # the gateway's keys are at most a minute old
    fresh = jwt.encode(_fresh(genuine, system), NEW, algorithm="EdDSA", headers={"kid": key_id(NEW)})
    assert (await _me(system, fresh)).status_code == 200
    _refused(await _me(system, _signed(fresh, OLD, key_id(OLD))), "unknown_key")
    jwks = (await system.gateway.get("/.well-known/jwks.json")).json()["keys"]
    assert [key["kid"] for key in jwks] == [key_id(NEW)]


def _fresh(genuine: str, system: System) -> dict[str, Any]:
    """The genuine token's claims, issued now by the test's clock."""
    claims = jwt.decode(genuine, options={"verify_signature": False})
    now = int(system.clock.timestamp())
    return {**claims, "iat": now, "exp": now + 300}


def test_the_setting_takes_pem_blocks_in_order_and_refuses_a_key_listed_twice() -> None:
    assert [key_id(key) for key in load_signing_keys(private_pem(NEW) + "\n" + private_pem(OLD))] == [
        key_id(NEW),
        key_id(OLD),
    ]
    with pytest.raises(ValueError, match="twice"):
        load_signing_keys(private_pem(NEW) + private_pem(NEW))
    with pytest.raises(ValueError, match="no Ed25519"):
        load_signing_keys("not a key")


def test_the_thumbprint_is_rfc_8037s_example() -> None:
    """RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key."""
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
    assert key_id(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_production_refuses_a_development_key_anywhere_in_the_list(tmp_path: Path) -> None:
    """`sekisho up`'s dev key copied into a deployment as the overlap's second key is refused like a lone one."""
    from shared.production import DEV_AUTH_SIGNING_KEY_FILE
    from tests.security.test_production_mode import production, refusal

    values = production("auth", tmp_path)
    (tmp_path / DEV_AUTH_SIGNING_KEY_FILE).write_text(private_pem(OLD))
    values.update(auth_signing_key=None, auth_signing_keys=private_pem(NEW) + private_pem(OLD))
    refused = refusal("auth", values)
    assert refused.problems == (
        f"SEKISHO_AUTH_SIGNING_KEYS is a development key `sekisho up` generated under {tmp_path} (or lists one)",
    )
    assert "PRIVATE" not in str(refused)
    values.update(auth_signing_keys=private_pem(NEW) + private_pem(STRANGER))
    settings_class("auth")(**values)  # no dev key listed: it starts
