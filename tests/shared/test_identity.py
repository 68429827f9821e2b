"""The signed service identity: who may call whom, and for how long (SEC-1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from shared.clock import FrozenClock
from shared.identity import IdentityError, IdentityIssuer, IdentityVerifier

SECRET = "s" * 40
OTHER = "o" * 40


def issuer(clock: FrozenClock, secret: str = SECRET, service: str = "gateway") -> IdentityIssuer:
    return IdentityIssuer(service=service, secret=secret, clock=clock, ttl_seconds=60)


def verifier(clock: FrozenClock, *secrets: str, service: str = "auth") -> IdentityVerifier:
    return IdentityVerifier(service=service, secrets=list(secrets or (SECRET,)), clock=clock)


@pytest.mark.req("SEC-1")
def test_a_token_made_for_a_service_names_its_caller_and_context() -> None:
    clock = FrozenClock()
    token = issuer(clock).issue("auth", {"subject": "cus_1"})
    identity = verifier(clock).verify(token)
    assert (identity.caller, identity.audience, identity.context) == ("gateway", "auth", {"subject": "cus_1"})
    assert identity.expires_at - identity.issued_at == 60


@pytest.mark.req("SEC-1")
def test_a_token_made_for_one_service_is_refused_by_another() -> None:
    clock = FrozenClock()
    with pytest.raises(IdentityError, match="another service"):
        verifier(clock, service="txn").verify(issuer(clock).issue("auth"))


@pytest.mark.req("SEC-1")
def test_a_forged_token_is_refused() -> None:
    clock = FrozenClock()
    with pytest.raises(IdentityError, match="signature"):
        verifier(clock).verify(issuer(clock, secret=OTHER).issue("auth"))


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


def test_the_previous_secret_is_accepted_during_rotation() -> None:
    clock = FrozenClock()
    token = issuer(clock, secret=OTHER).issue("auth")
    assert verifier(clock, SECRET, OTHER).verify(token).caller == "gateway"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJnYXRld2F5In0."])
def test_garbage_and_unsigned_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(IdentityError):
        verifier(FrozenClock()).verify(garbage)


def test_an_unknown_caller_is_refused() -> None:
    clock = FrozenClock()
    with pytest.raises(IdentityError, match="unknown caller"):
        verifier(clock).verify(issuer(clock, service="mallory").issue("auth"))


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
    header, payload, signature = issuer(clock).issue("auth", {"subject": "cus_1"}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["ctx"]["subject"] = "cus_2"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(IdentityError, match="signature"):
        verifier(clock).verify(f"{header}.{changed}.{signature}")
    hs512 = base64.urlsafe_b64encode(b'{"alg":"HS512","typ":"JWT"}').rstrip(b"=").decode()
    signed = hmac.new(SECRET.encode(), f"{hs512}.{payload}".encode(), hashlib.sha512).digest()
    forged = f"{hs512}.{payload}.{base64.urlsafe_b64encode(signed).rstrip(b'=').decode()}"
    with pytest.raises(IdentityError, match="malformed"):
        verifier(clock).verify(forged)


def test_tokens_made_by_pyjwt_before_this_release_are_still_accepted() -> None:
    clock = FrozenClock()
    now = int(clock.timestamp())
    claims = {"iss": "gateway", "aud": "auth", "iat": now, "exp": now + 60, "ctx": {"subject": "cus_1"}}
    assert verifier(clock).verify(jwt.encode(claims, SECRET, algorithm="HS256")).context == {"subject": "cus_1"}
