"""Access tokens: Ed25519-signed, short-lived, refused on any forgery; acr counts factor classes. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.clock import FrozenClock
from shared.tokens import (
    AUDIENCE,
    DEFAULT_TTL_SECONDS,
    ISSUER,
    LEEWAY_SECONDS,
    AccessClaims,
    Factor,
    TokenError,
    TokenSigner,
    TokenVerifier,
    acr_for,
    is_mfa,
    load_private_key,
    new_signing_key,
)

PRIVATE_PEM, PUBLIC_PEM = new_signing_key()
OTHER_PRIVATE_PEM, OTHER_PUBLIC_PEM = new_signing_key()

CLOCK_START = int(FrozenClock().timestamp())
PASSWORD = Factor("knowledge", "pwd", CLOCK_START - 20)
TOTP = Factor("possession", "totp", CLOCK_START - 5)
SMS = Factor("possession", "sms", CLOCK_START - 5)
EMAIL = Factor("possession", "email", CLOCK_START - 30)
FACE = Factor("inherence", "face", CLOCK_START - 5)


def signer(clock: FrozenClock, key: str | bytes = PRIVATE_PEM, kid: str = "k1") -> TokenSigner:
    return TokenSigner(key, kid=kid, clock=clock)


def verifier(clock: FrozenClock, keys: Mapping[str, str | bytes] | None = None) -> TokenVerifier:
    return TokenVerifier(keys or {"k1": PUBLIC_PEM}, clock=clock)


def customer_token(clock: FrozenClock, factors: tuple[Factor, ...] = (PASSWORD, TOTP), **kwargs: Any) -> str:
    return signer(clock, **kwargs).issue(subject="cus_1", session_id="ses_1", device_id="dev_1", factors=factors).token


def refusal(token: str, clock: FrozenClock, keys: Mapping[str, str | bytes] | None = None) -> str:
    with pytest.raises(TokenError) as caught:
        verifier(clock, keys).verify(token)
    return caught.value.reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _genuine_claims(clock: FrozenClock) -> dict[str, Any]:
    return jwt.decode(customer_token(clock), options={"verify_signature": False})


def _sign_raw(claims: dict[str, Any], key: str = PRIVATE_PEM, kid: str = "k1") -> str:
    return jwt.encode(claims, load_private_key(key), algorithm="EdDSA", headers={"kid": kid})


# Round trip


def test_a_token_round_trips_with_every_claim() -> None:
    clock = FrozenClock()
    issued = signer(clock).issue(subject="cus_1", session_id="ses_1", device_id="dev_1", factors=[PASSWORD, TOTP])
    claims = verifier(clock).verify(issued.token)
    assert claims == issued.claims
    assert (claims.subject, claims.session_id, claims.device_id) == ("cus_1", "ses_1", "dev_1")
    assert claims.factors == (PASSWORD, TOTP)
    assert (claims.subject_type, claims.role, claims.acr) == ("customer", None, "aal2")
    assert claims.issued_at == CLOCK_START
    assert claims.expires_at == CLOCK_START + DEFAULT_TTL_SECONDS == CLOCK_START + 300
    assert issued.expires_in == 300


def test_the_wire_format_names_the_algorithm_key_and_standard_claims() -> None:
    clock = FrozenClock()
    token = customer_token(clock)
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k1", "typ": "JWT"}
    raw = jwt.decode(token, options={"verify_signature": False})
    assert (raw["iss"], raw["aud"], raw["acr"], raw["typ"]) == (ISSUER, AUDIENCE, "aal2", "customer")
    assert raw["amr"] == [
        {"class": "knowledge", "method": "pwd", "at": PASSWORD.at},
        {"class": "possession", "method": "totp", "at": TOTP.at},
    ]
    assert isinstance(raw["jti"], str)
    assert raw["jti"]
    assert "role" not in raw


def test_each_token_has_its_own_id() -> None:
    clock = FrozenClock()
    assert len({verifier(clock).verify(customer_token(clock)).token_id for _ in range(5)}) == 5


def test_a_staff_token_carries_its_role_and_no_device() -> None:
    clock = FrozenClock()
    issued = signer(clock).issue(
        subject="stf_1",
        session_id="ses_2",
        device_id=None,
        factors=[PASSWORD, TOTP],
        subject_type="staff",
        role="analyst",
    )
    claims = verifier(clock).verify(issued.token, subject_type="staff")
    assert (claims.subject_type, claims.role, claims.device_id) == ("staff", "analyst", None)
    assert claims.outsourced is False
    assert "osc" not in jwt.decode(issued.token, options={"verify_signature": False})


def test_an_outsourced_operators_token_says_so() -> None:
    clock = FrozenClock()
    issued = signer(clock).issue(
        subject="stf_1", session_id="ses_2", device_id=None, factors=[PASSWORD, TOTP], subject_type="staff",
        role="supervisor", outsourced=True,
    )  # fmt: skip
    claims = verifier(clock).verify(issued.token, subject_type="staff")
    assert (claims.role, claims.outsourced) == ("supervisor", True)


def test_a_token_of_the_other_kind_is_refused_where_one_kind_is_required() -> None:
    clock = FrozenClock()
    staff = signer(clock).issue(
        subject="stf_1", session_id="s", device_id=None, factors=[PASSWORD], subject_type="staff"
    )
    with pytest.raises(TokenError) as caught:
        verifier(clock).verify(staff.token, subject_type="customer")
    assert caught.value.reason == "wrong_type"
    with pytest.raises(TokenError):
        verifier(clock).verify(customer_token(clock), subject_type="staff")


def test_claims_built_for_a_session_sign_and_verify() -> None:
    clock = FrozenClock()
    claims = AccessClaims.for_subject(
        subject="cus_1",
        session_id="ses_1",
        device_id="dev_1",
        factors=[PASSWORD],
        issued_at=CLOCK_START,
        ttl_seconds=60,
    )
    assert verifier(clock).verify(signer(clock).sign(claims)) == claims


def test_a_raw_32_byte_seed_signs_like_its_pem() -> None:
    clock = FrozenClock()
    seed = bytes(range(32))
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = customer_token(clock, key=seed)
    assert verifier(clock, {"k1": public_pem}).verify(token).subject == "cus_1"
    assert verifier(clock, {"k1": public.public_bytes_raw()}).verify(token).subject == "cus_1"


def test_a_signing_key_that_is_not_ed25519_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        TokenSigner(p256, kid="k1", clock=FrozenClock())


# Time


def test_a_token_is_accepted_until_it_expires_then_refused() -> None:
    clock = FrozenClock()
    token = customer_token(clock)
    clock.advance(DEFAULT_TTL_SECONDS + LEEWAY_SECONDS)
    assert verifier(clock).verify(token).subject == "cus_1"
    clock.advance(1)
    assert refusal(token, clock) == "expired"


def test_a_token_issued_in_the_future_is_refused() -> None:
    clock = FrozenClock()
    token = customer_token(clock)
    clock.advance(-(LEEWAY_SECONDS + 1))
    assert refusal(token, clock) == "not_yet_valid"


# Forgery and tampering


def test_a_token_with_a_changed_claim_is_refused() -> None:
    clock = FrozenClock()
    header, _, signature = customer_token(clock).split(".")
    claims = _genuine_claims(clock) | {"sub": "cus_victim"}
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert refusal(forged, clock) == "signature"


def test_a_token_with_a_changed_signature_is_refused() -> None:
    clock = FrozenClock()
    header, payload, signature = customer_token(clock).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 1
    assert refusal(f"{header}.{payload}.{_b64(bytes(raw))}", clock) == "signature"


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    clock = FrozenClock()
    assert refusal(customer_token(clock, key=OTHER_PRIVATE_PEM), clock) == "signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_alg_none_token_is_refused(alg: str) -> None:
    clock = FrozenClock()
    forged = _segments({"alg": alg, "kid": "k1", "typ": "JWT"}, _genuine_claims(clock)) + "."
    assert refusal(forged, clock) == "algorithm"


@pytest.mark.parametrize(
    ("alg", "digest"), [("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)]
)
def test_an_hmac_token_keyed_with_the_public_key_is_refused(alg: str, digest: Any) -> None:
    # The classic confusion attack: the verifier's public key is no secret, so an HS* token "signed" with it
    # would pass a verifier that let the header choose the algorithm.
    clock = FrozenClock()
    signing_input = _segments({"alg": alg, "kid": "k1", "typ": "JWT"}, _genuine_claims(clock))
    mac = hmac.new(PUBLIC_PEM.encode(), signing_input.encode(), digest).digest()
    assert refusal(f"{signing_input}.{_b64(mac)}", clock) == "algorithm"


def test_a_token_signed_with_another_asymmetric_algorithm_is_refused() -> None:
    clock = FrozenClock()
    key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(_genuine_claims(clock), key, algorithm="ES256", headers={"kid": "k1"})
    assert refusal(forged, clock) == "algorithm"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-token",
        "a.b.c",
        "....",
        "x" * 10_000,
        _b64(b'{"alg":"EdDSA","kid":"k1"}') + "." + "A" * 9000 + ".c2ln",
    ],
)
def test_garbage_is_refused_as_malformed(garbage: str) -> None:
    assert refusal(garbage, FrozenClock()) == "malformed"


def test_a_token_without_an_algorithm_is_refused() -> None:
    assert refusal("e30.e30.", FrozenClock()) == "algorithm"


def test_a_token_without_an_expiry_is_refused() -> None:
    clock = FrozenClock()
    claims = _genuine_claims(clock)
    del claims["exp"]
    assert refusal(_sign_raw(claims), clock) == "malformed"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iss": "someone-else"}, "issuer"),
        ({"aud": "txn"}, "audience"),
        ({"aud": ["sekisho", "txn"]}, "audience"),
        ({"iat": "1767603600"}, "claims"),
        ({"amr": []}, "claims"),
        ({"amr": [{"class": "inherence", "method": "sms", "at": 1}]}, "claims"),
        ({"did": 7}, "claims"),
        ({"typ": "admin"}, "claims"),
        ({"role": "admin"}, "claims"),  # a customer token never carries a role
        ({"osc": True}, "claims"),  # nor the outsourced mark
        ({"osc": "false"}, "claims"),
    ],
)
def test_a_correctly_signed_token_with_wrong_claims_is_refused(change: dict[str, Any], reason: str) -> None:
    clock = FrozenClock()
    assert refusal(_sign_raw(_genuine_claims(clock) | change), clock) == reason


@pytest.mark.req("AUTH-LOGIN-1")
def test_a_token_claiming_more_assurance_than_its_factors_is_refused() -> None:
    clock = FrozenClock()
    claims = _genuine_claims(clock) | {"amr": [SMS.to_claim(), EMAIL.to_claim()], "acr": "aal2"}
    assert refusal(_sign_raw(claims), clock) == "claims"


# Keys and rotation


def test_a_token_with_an_unknown_or_missing_kid_is_refused() -> None:
    clock = FrozenClock()
    assert refusal(customer_token(clock, kid="k9"), clock) == "unknown_key"
    no_kid = jwt.encode(_genuine_claims(clock), load_private_key(PRIVATE_PEM), algorithm="EdDSA")
    assert refusal(no_kid, clock) == "unknown_key"


def test_during_rotation_old_and_new_keys_verify_until_the_old_one_is_unlisted() -> None:
    clock = FrozenClock()
    old = customer_token(clock, key=PRIVATE_PEM, kid="k1")
    new = customer_token(clock, key=OTHER_PRIVATE_PEM, kid="k2")
    both = {"k2": OTHER_PUBLIC_PEM, "k1": PUBLIC_PEM}
    assert verifier(clock, both).verify(old).subject == "cus_1"
    assert verifier(clock, both).verify(new).subject == "cus_1"
    only_new = {"k2": OTHER_PUBLIC_PEM}
    assert verifier(clock, only_new).verify(new).subject == "cus_1"
    assert refusal(old, clock, only_new) == "unknown_key"


def test_new_signing_keys_are_distinct_ed25519_pairs() -> None:
    private_pem, public_pem = new_signing_key()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert private_pem != PRIVATE_PEM
    assert TokenSigner(private_pem, kid="k1", clock=FrozenClock()).public_key_pem == public_pem


# Assurance: MFA counts different classes (JFSA 2(2))


@pytest.mark.req("AUTH-LOGIN-1")
@pytest.mark.parametrize(
    ("factors", "acr"),
    [
        ((PASSWORD,), "aal1"),
        ((TOTP,), "aal1"),
        ((EMAIL, SMS), "aal1"),
        ((SMS, TOTP, EMAIL), "aal1"),
        ((PASSWORD, Factor("knowledge", "pwd", CLOCK_START)), "aal1"),
        ((PASSWORD, SMS), "aal2"),
        ((PASSWORD, TOTP), "aal2"),
        ((FACE, Factor("possession", "device_key", CLOCK_START)), "aal2"),
        ((PASSWORD, EMAIL, FACE), "aal2"),
    ],
    ids=["pwd", "totp", "email+sms", "three-codes", "pwd+pwd", "pwd+sms", "pwd+totp", "face+device", "three-classes"],
)
def test_mfa_needs_two_different_factor_classes(factors: tuple[Factor, ...], acr: str) -> None:
    assert acr_for(factors) == acr
    assert is_mfa(factors) is (acr == "aal2")
    clock = FrozenClock()
    assert verifier(clock).verify(customer_token(clock, factors)).acr == acr


def test_a_factor_must_belong_to_the_class_its_method_proves() -> None:
    with pytest.raises(ValueError, match="possession"):
        Factor("inherence", "sms", CLOCK_START)
    with pytest.raises(ValueError, match="unknown"):
        Factor("knowledge", "pin", CLOCK_START)  # type: ignore[arg-type]
    assert Factor.of("face", CLOCK_START) == Factor("inherence", "face", CLOCK_START)


def test_a_token_cannot_be_issued_without_a_factor() -> None:
    with pytest.raises(ValueError, match="factor"):
        signer(FrozenClock()).issue(subject="cus_1", session_id="ses_1", device_id=None, factors=[])


def test_a_token_claiming_a_longer_life_than_configured_is_refused() -> None:
    clock = FrozenClock()
    now = int(clock.timestamp())
    strict = TokenVerifier({"k1": PUBLIC_PEM}, clock=clock, max_lifetime_seconds=300)
    assert strict.verify(customer_token(clock)).subject == "cus_1"  # the signer's own 300 s
    long_lived = _sign_raw({**_genuine_claims(clock), "iat": now, "exp": now + 300 + LEEWAY_SECONDS + 1})
    with pytest.raises(TokenError) as caught:
        strict.verify(long_lived)
    assert caught.value.reason == "lifetime"
    assert verifier(clock).verify(long_lived).subject == "cus_1"  # unchecked without a maximum
