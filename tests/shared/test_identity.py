"""The signed service identity: who may call whom, with which key, and for how long (SEC-1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.clock import FrozenClock
from shared.identity import IdentityError, IdentityIssuer, IdentityVerifier
from shared.identity_keys import load_public_keys, new_identity_key
from shared.settings import SERVICE_NAMES
from shared.tokens import load_private_key, public_pem

KEYS = {service: new_identity_key()[0] for service in SERVICE_NAMES}


def issuer(clock: FrozenClock, service: str = "gateway", key: str | None = None) -> IdentityIssuer:
    return IdentityIssuer(service=service, key=key or KEYS[service], clock=clock, ttl_seconds=60)


def verifier(clock: FrozenClock, service: str = "auth", **extra: list[str]) -> IdentityVerifier:
    """A verifier knowing every service's key in KEYS, and for some services more (`extra`, private PEMs)."""
    spec = {name: [public_pem(load_private_key(pem))] for name, pem in KEYS.items()}
    for name, pems in extra.items():
        spec[name] += [public_pem(load_private_key(pem)) for pem in pems]
    return IdentityVerifier(service=service, public_keys=load_public_keys(spec, SERVICE_NAMES), clock=clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


@pytest.mark.req("SEC-1")
def test_a_token_made_for_a_service_names_its_caller_and_context() -> None:
    clock = FrozenClock()
    token = issuer(clock).issue("auth", {"subject": "cus_1"})
    identity = verifier(clock).verify(token)
    assert (identity.caller, identity.audience, identity.context) == ("gateway", "auth", {"subject": "cus_1"})
    assert identity.expires_at - identity.issued_at == 60
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["alg"] == "EdDSA"


@pytest.mark.req("SEC-1")
def test_a_token_made_for_one_service_is_refused_by_another() -> None:
    clock = FrozenClock()
    with pytest.raises(IdentityError, match="another service"):
        verifier(clock, service="txn").verify(issuer(clock).issue("auth"))


@pytest.mark.req("SEC-1")
def test_a_forged_token_is_refused() -> None:
    """Signed with a key no service holds."""
    clock = FrozenClock()
    with pytest.raises(IdentityError, match="unknown key"):
        verifier(clock).verify(issuer(clock, key=new_identity_key()[0]).issue("auth"))


def test_a_service_cannot_speak_as_another_with_its_own_key() -> None:
    clock = FrozenClock()
    as_gateway_with_frauds_key = issuer(clock, service="gateway", key=KEYS["fraud"]).issue("auth")
    with pytest.raises(IdentityError, match="key of another service"):
        verifier(clock).verify(as_gateway_with_frauds_key)


def test_a_header_naming_the_gateways_key_over_another_signature_is_refused() -> None:
    clock = FrozenClock()
    genuine = issuer(clock).issue("auth")
    header = genuine.split(".")[0]
    now = int(clock.timestamp())
    claims = {"iss": "gateway", "aud": "auth", "iat": now, "exp": now + 60, "ctx": {"subject_type": "staff"}}
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    fraud_key = load_private_key(KEYS["fraud"])
    assert isinstance(fraud_key, Ed25519PrivateKey)
    forged = f"{signing_input}.{_b64(fraud_key.sign(signing_input.encode()))}"
    with pytest.raises(IdentityError, match="signature"):
        verifier(clock).verify(forged)


def test_only_the_gateway_may_carry_an_end_user_context() -> None:
    clock = FrozenClock()
    staff = {"subject": "stf_1", "subject_type": "staff", "role": "admin"}
    for service in ("auth", "kyc", "txn", "fraud", "notify"):
        token = issuer(clock, service=service).issue("notify" if service != "notify" else "auth", staff)
        with pytest.raises(IdentityError, match="Only the gateway"):
            verifier(clock, service="notify" if service != "notify" else "auth").verify(token)
    assert verifier(clock).verify(issuer(clock).issue("auth", staff)).context == staff


@pytest.mark.req("SEC-1")
def test_an_expired_token_is_refused() -> None:
    clock = FrozenClock()
    token = issuer(clock).issue("auth")
    clock.advance(66)
    with pytest.raises(IdentityError, match="expired"):
        verifier(clock).verify(token)


def test_a_token_from_the_future_is_refused() -> None:
    clock = FrozenClock()
    token = issuer(clock).issue("auth")
    clock.advance(-30)
    with pytest.raises(IdentityError, match="not valid yet"):
        verifier(clock).verify(token)


def test_a_services_previous_key_is_accepted_during_its_rotation() -> None:
    clock = FrozenClock()
    previous = new_identity_key()[0]
    token = issuer(clock, key=previous).issue("auth")
    assert verifier(clock, gateway=[previous]).verify(token).caller == "gateway"
    with pytest.raises(IdentityError):
        verifier(clock).verify(token)  # once the rotation is over, the old key is refused


def test_one_key_listed_for_two_services_is_refused_at_start() -> None:
    shared = public_pem(load_private_key(KEYS["fraud"]))
    with pytest.raises(ValueError, match="same identity key"):
        load_public_keys({"fraud": [shared], "gateway": [shared]}, SERVICE_NAMES)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJnYXRld2F5In0."])
def test_garbage_and_unsigned_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(IdentityError):
        verifier(FrozenClock()).verify(garbage)


def test_an_unknown_caller_is_refused() -> None:
    clock = FrozenClock()
    with pytest.raises(IdentityError):
        verifier(clock).verify(issuer(clock, service="mallory", key=KEYS["kyc"]).issue("auth"))


def test_context_free_tokens_are_reused_until_half_their_life() -> None:
    clock = FrozenClock()
    mint = issuer(clock)
    first = mint.issue("auth")
    clock.advance(29)
    assert mint.issue("auth") == first
    clock.advance(2)
    assert mint.issue("auth") != first


@pytest.mark.req("SEC-1")
def test_a_token_changed_after_signing_or_signed_with_another_algorithm_is_refused() -> None:
    clock = FrozenClock()
    token = issuer(clock).issue("auth", {"subject": "cus_1"})
    header, payload, signature = token.split(".")
    claims = _claims(token)
    claims["ctx"] = {"subject": "cus_2"}
    changed = _b64(json.dumps(claims).encode())
    with pytest.raises(IdentityError, match="signature"):
        verifier(clock).verify(f"{header}.{changed}.{signature}")
    # An HMAC "signed" with the gateway's public key, as in the classic algorithm-confusion attack.
    hs256 = _b64(b'{"alg":"HS256","typ":"JWT"}')
    public = public_pem(load_private_key(KEYS["gateway"])).encode()
    signed = hmac.new(public, f"{hs256}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(IdentityError, match="unknown key"):
        verifier(clock).verify(f"{hs256}.{payload}.{_b64(signed)}")
