"""Access tokens: short-lived JWTs signed with Ed25519 that say who signed in, on which device, and with which factors.

A token carries `iss` "sekisho-auth", `aud` "sekisho", the subject (`sub`), its session (`sid`) and
device (`did`, null for staff), `typ` ("customer" | "staff") with an optional staff `role`, the factors
proved as `amr` objects `{"class", "method", "at"}`, and `acr`: "aal2" when those factors span two or
more different classes, else "aal1" — JFSA 2(2) counts MFA by class, so an email code plus an SMS code
is still one factor (AUTH-LOGIN-1). Lifetimes are minutes; the refresh token (sessions.py) outlives them.

Only EdDSA is accepted: the algorithm is checked from the header before anything else, so `none`, HS*
(a public key misused as an HMAC secret) and any other algorithm are refused. The key is chosen by the
header's `kid` among the keys the verifier lists, so a new key can sign while the old one still verifies.
Every refusal raises `TokenError`, whose `reason` is a stable word for logs and the problem document.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.clock import Clock
from shared.ids import new_id

ISSUER: Final = "sekisho-auth"
AUDIENCE: Final = "sekisho"
ALGORITHM: Final = "EdDSA"
LEEWAY_SECONDS: Final = 5
DEFAULT_TTL_SECONDS: Final = 300
# A bearer token is a header value; anything far larger is not one of ours and is not worth parsing.
MAX_TOKEN_LENGTH: Final = 8192

FactorClass = Literal["knowledge", "possession", "inherence"]
Method = Literal[
    "pwd", "totp", "sms", "email", "recovery_code", "device_key", "face", "fingerprint", "hwk", "swk", "user"
]
SubjectType = Literal["customer", "staff"]
Acr = Literal["aal1", "aal2"]

# The class each method proves (JFSA 2(2): knowledge = ID + password; possession = authenticator app,
# code sent to the registered phone or address, key bound to a registered device; inherence = biometrics).
# A passkey (WebAuthn) proves two: the key (RFC 8176 `hwk` where it is bound to one device, `swk` where it is synced
# or may be backed up) and the authenticator's user verification (`user`). That verification is a biometric or the
# device's PIN, and the assertion does not say which; every platform authenticator falls back to the PIN, so the
# class it is sure to prove is knowledge, the class of the password it replaces.
METHOD_CLASSES: Final[Mapping[str, FactorClass]] = {
    "pwd": "knowledge",
    "totp": "possession",
    "sms": "possession",
    "email": "possession",
    # A single-use backup code issued at authenticator enrolment stands in for the lost possession factor once
    # (services/auth/recovery_codes.py); the policy decides which operations it may never answer.
    "recovery_code": "possession",
    "device_key": "possession",
    "face": "inherence",
    "fingerprint": "inherence",
    "hwk": "possession",
    "swk": "possession",
    "user": "knowledge",
}
# The methods only a passkey proves: phishing-resistant, bound by the browser to the origin it was made for.
PASSKEY_METHODS: Final = frozenset({"hwk", "swk", "user"})
SUBJECT_TYPES: Final = frozenset(get_args(SubjectType))
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class TokenError(Exception):
    """The access token is malformed, forged, expired, of the wrong kind, or signed by an unknown key.

    `reason` is one of: malformed, algorithm, unknown_key, signature, issuer, audience, expired,
    not_yet_valid, lifetime, claims, wrong_type.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not _is_int(value):
        raise TokenError("claims", f"The access token's {name!r} is not whole Unix seconds.")
    return cast(int, value)


@dataclass(frozen=True)
class Factor:
    """One factor proved at `at` (Unix seconds); `cls` must be the class `method` belongs to."""

    cls: FactorClass
    method: Method
    at: int

    def __post_init__(self) -> None:
        expected = METHOD_CLASSES.get(self.method)
        if expected is None:
            raise ValueError(f"unknown authentication method {self.method!r}")
        if self.cls != expected:
            raise ValueError(f"method {self.method!r} proves a {expected} factor, not {self.cls!r}")
        if not _is_int(self.at) or self.at < 0:
            raise ValueError("a factor's time is whole Unix seconds")

    @staticmethod
    def of(method: Method, at: int) -> Factor:
        """The factor `method` proves, its class looked up rather than spelled out."""
        return Factor(cls=METHOD_CLASSES[method], method=method, at=at)

    def to_claim(self) -> dict[str, Any]:
        return {"class": self.cls, "method": self.method, "at": self.at}

    @staticmethod
    def from_claim(item: object) -> Factor:
        if not isinstance(item, dict) or set(item) != {"class", "method", "at"}:
            raise ValueError("an amr entry is an object with exactly class, method and at")
        return Factor(cls=item["class"], method=item["method"], at=item["at"])


def acr_for(factors: Iterable[Factor]) -> Acr:
    """'aal2' when the factors span two or more different classes; two of one class are still 'aal1'."""
    classes = {factor.cls for factor in factors}
    if not classes:
        raise ValueError("an authentication needs at least one factor")
    return "aal2" if len(classes) >= 2 else "aal1"


def is_mfa(factors: Iterable[Factor]) -> bool:
    """Multi-factor in the JFSA 2(2) sense: at least two different classes (AUTH-LOGIN-1)."""
    return len({factor.cls for factor in factors}) >= 2


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    session_id: str
    device_id: str | None
    factors: tuple[Factor, ...]
    issued_at: int
    expires_at: int
    token_id: str
    subject_type: SubjectType = "customer"
    role: str | None = None
    # An outsourced operator (DATA-4, claim `osc`): whatever the role, never full values, indicators or the trail.
    outsourced: bool = False

    def __post_init__(self) -> None:
        if not self.subject or not self.session_id or not self.token_id:
            raise ValueError("subject, session and token id must not be empty")
        if self.subject_type not in SUBJECT_TYPES:
            raise ValueError(f"unknown subject type {self.subject_type!r}")
        if self.role is not None and self.subject_type != "staff":
            raise ValueError("only staff tokens carry a role")
        if self.outsourced and self.subject_type != "staff":
            raise ValueError("only staff tokens mark an outsourced operator")
        if not self.factors:
            raise ValueError("an access token needs at least one factor")
        if not (_is_int(self.issued_at) and _is_int(self.expires_at)) or self.expires_at <= self.issued_at:
            raise ValueError("a token must expire after it is issued, in whole Unix seconds")

    @classmethod
    def for_subject(
        cls,
        *,
        subject: str,
        session_id: str,
        device_id: str | None,
        factors: Sequence[Factor],
        issued_at: int,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        subject_type: str = "customer",
        role: str | None = None,
        outsourced: bool = False,
    ) -> AccessClaims:
        """Claims for a new token with a fresh `jti`, living `ttl_seconds` from `issued_at`."""
        if subject_type not in SUBJECT_TYPES:
            raise ValueError(f"unknown subject type {subject_type!r}")
        return cls(
            subject=subject,
            session_id=session_id,
            device_id=device_id,
            factors=tuple(factors),
            issued_at=issued_at,
            expires_at=issued_at + ttl_seconds,
            token_id=new_id("jti"),
            subject_type=cast(SubjectType, subject_type),
            role=role,
            outsourced=outsourced,
        )

    @property
    def acr(self) -> Acr:
        return acr_for(self.factors)

    @property
    def mfa(self) -> bool:
        return is_mfa(self.factors)

    def to_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": self.subject,
            "sid": self.session_id,
            "did": self.device_id,
            "typ": self.subject_type,
            "amr": [factor.to_claim() for factor in self.factors],
            "acr": self.acr,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "jti": self.token_id,
        }
        if self.role is not None:
            claims["role"] = self.role
        if self.outsourced:
            claims["osc"] = True
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> AccessClaims:
        """Parses claims already verified for signature, issuer, audience and time; ValueError if malformed."""
        for name in ("sub", "sid", "jti", "typ", "acr"):
            if not isinstance(claims.get(name), str):
                raise ValueError(f"claim {name!r} must be a string")
        device_id, role, amr = claims.get("did"), claims.get("role"), claims.get("amr")
        if device_id is not None and not isinstance(device_id, str):
            raise ValueError("claim 'did' must be a string or null")
        if role is not None and not isinstance(role, str):
            raise ValueError("claim 'role' must be a string")
        if not isinstance(amr, list):
            raise ValueError("claim 'amr' must be a list")
        outsourced = claims.get("osc", False)
        if not isinstance(outsourced, bool):
            raise ValueError("claim 'osc' must be a boolean")
        parsed = cls(
            subject=claims["sub"],
            session_id=claims["sid"],
            device_id=device_id,
            factors=tuple(Factor.from_claim(item) for item in amr),
            issued_at=claims["iat"],
            expires_at=claims["exp"],
            token_id=claims["jti"],
            subject_type=claims["typ"],
            role=role,
            outsourced=outsourced,
        )
        # acr is derived from amr; a token whose two disagree was not made by this module.
        if claims["acr"] != parsed.acr:
            raise ValueError("claim 'acr' does not match the factors in 'amr'")
        return parsed


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: AccessClaims

    @property
    def expires_in(self) -> int:
        return self.claims.expires_at - self.claims.issued_at


def _pem_bytes(key: str | bytes) -> bytes:
    return key.encode("ascii") if isinstance(key, str) else key


def load_private_key(key: str | bytes | Ed25519PrivateKey) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) text or bytes, or from its raw 32-byte seed."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PrivateKey.from_private_bytes(key)
    loaded = serialization.load_pem_private_key(_pem_bytes(key), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError("the token signing key must be an Ed25519 key")
    return loaded


def load_public_key(key: str | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) text or bytes, or its raw 32 bytes."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    loaded = serialization.load_pem_public_key(_pem_bytes(key))
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError("a token verification key must be an Ed25519 key")
    return loaded


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_signing_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private PKCS#8 PEM, public PEM), unencrypted: store the first as a secret."""
    private = Ed25519PrivateKey.generate()
    return private_pem(private), public_pem(private)


_PEM_PRIVATE = re.compile(r"-----BEGIN PRIVATE KEY-----[A-Za-z0-9+/=\s]+?-----END PRIVATE KEY-----")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` its tokens carry, the same wherever it is
    computed, so a key needs no name of its own and two keys never share one."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))}, separators=(",", ":"))
    return _b64url(hashlib.sha256(members.encode("ascii")).digest())


def public_jwk(key: str | bytes | Ed25519PrivateKey | Ed25519PublicKey, kid: str | None = None) -> dict[str, str]:
    """The public half as an RFC 8037 JWK for EdDSA signatures; `kid` defaults to the thumbprint."""
    if not isinstance(key, Ed25519PrivateKey):
        key = load_public_key(key)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(key)),
        "kid": kid or key_id(key),
        "use": "sig",
        "alg": ALGORITHM,
    }


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_signing_keys(text: str) -> list[Ed25519PrivateKey]:
    """The access-token signing keys of SEKISHO_AUTH_SIGNING_KEYS: one or more PKCS#8 PEM blocks one after the
    other (`sekisho keygen --ed25519` prints one). The first signs; every one is published, so tokens of the others
    still verify while a rotation overlaps. Text outside the blocks is ignored; ValueError for no key, a key that is
    not Ed25519, or one listed twice."""
    blocks = _PEM_PRIVATE.findall(text)
    if not blocks:
        raise ValueError("no Ed25519 private key (PEM, -----BEGIN PRIVATE KEY-----) is listed")
    keys = [load_private_key(block) for block in blocks]
    kids = [key_id(key) for key in keys]
    if len(set(kids)) != len(kids):
        raise ValueError("a token signing key is listed twice")
    return keys


def _check_kid(kid: str) -> str:
    if not _KID.match(kid):
        raise ValueError("a key id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    return kid


class TokenSigner:
    """Signs access tokens with one Ed25519 key, naming it by `kid` in the header (default: its thumbprint).
    `also_published`: the keys of a rotation's overlap, whose public halves are published beside its own."""

    def __init__(
        self,
        private_key: str | bytes | Ed25519PrivateKey,
        *,
        kid: str | None = None,
        clock: Clock,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        also_published: Sequence[Ed25519PrivateKey | Ed25519PublicKey] = (),
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("an access token must live a positive number of seconds")
        self._key = load_private_key(private_key)
        self.kid = _check_kid(kid if kid is not None else key_id(self._key))
        self._clock = clock
        self.ttl_seconds = ttl_seconds
        self._published = {self.kid: public_pem(self._key)}
        for other in also_published:
            self._published.setdefault(key_id(other), public_pem(other))

    @property
    def public_key_pem(self) -> str:
        return public_pem(self._key)

    @property
    def published_keys(self) -> dict[str, str]:
        """Key id -> public PEM of every key whose tokens verify: the signing key first."""
        return dict(self._published)

    def sign(self, claims: AccessClaims) -> str:
        return jwt.encode(claims.to_claims(), self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def issue(
        self,
        *,
        subject: str,
        session_id: str,
        device_id: str | None,
        factors: Sequence[Factor],
        subject_type: str = "customer",
        role: str | None = None,
        outsourced: bool = False,
    ) -> IssuedToken:
        """A token issued now by the injected clock, living this signer's `ttl_seconds`."""
        claims = AccessClaims.for_subject(
            subject=subject,
            session_id=session_id,
            device_id=device_id,
            factors=factors,
            issued_at=int(self._clock.timestamp()),
            ttl_seconds=self.ttl_seconds,
            subject_type=subject_type,
            role=role,
            outsourced=outsourced,
        )
        return IssuedToken(self.sign(claims), claims)


class TokenVerifier:
    """Checks access tokens against the public keys listed by kid; list the old key too while rotating."""

    def __init__(
        self,
        public_keys: Mapping[str, str | bytes | Ed25519PublicKey],
        *,
        clock: Clock,
        max_lifetime_seconds: int | None = None,
    ) -> None:
        """`max_lifetime_seconds`: the longest `exp - iat` a token may claim (the issuer's configured lifetime);
        None: not checked."""
        if not public_keys:
            raise ValueError("at least one verification key is needed")
        if max_lifetime_seconds is not None and max_lifetime_seconds <= 0:
            raise ValueError("a token's maximum lifetime must be a positive number of seconds")
        self._keys = {_check_kid(kid): load_public_key(key) for kid, key in public_keys.items()}
        self._clock = clock
        self._max_lifetime = max_lifetime_seconds

    def verify(self, token: str, *, subject_type: SubjectType | None = None) -> AccessClaims:
        """The token's claims, or TokenError. With `subject_type`, a token of the other kind is refused."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed", "The access token is malformed.")
        key = self._key_for(token)
        claims = self._decode(token, key)
        now = self._clock.timestamp()
        if claims.get("iss") != ISSUER:
            raise TokenError("issuer", "The access token was not issued by sekisho-auth.")
        # A list-valued aud is refused too: these tokens are meant for sekisho alone.
        if claims.get("aud") != AUDIENCE:
            raise TokenError("audience", "The access token was issued for another audience.")
        issued_at, expires_at = _seconds_claim(claims, "iat"), _seconds_claim(claims, "exp")
        if expires_at + LEEWAY_SECONDS < now:
            raise TokenError("expired", "The access token has expired.")
        if issued_at - LEEWAY_SECONDS > now:
            raise TokenError("not_yet_valid", "The access token is not valid yet.")
        # A token living longer than the issuer ever issues them was not issued as configured (a leaked signing
        # key, or a bug): a stolen one would otherwise stay good for as long as its exp says, years perhaps.
        if self._max_lifetime is not None and expires_at - issued_at > self._max_lifetime + LEEWAY_SECONDS:
            raise TokenError("lifetime", "The access token claims a longer life than tokens are issued for.")
        try:
            parsed = AccessClaims.from_claims(claims)
        except (ValueError, TypeError) as exc:
            raise TokenError("claims", f"The access token's claims are malformed: {exc}") from exc
        if subject_type is not None and parsed.subject_type != subject_type:
            raise TokenError("wrong_type", f"A {subject_type} access token is required here.")
        return parsed

    def _key_for(self, token: str) -> Ed25519PublicKey:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", "The access token is malformed.") from exc
        # Checked before any key is touched: "none" and HS* (the public key used as an HMAC secret)
        # are the classic JWT forgeries, and only the one algorithm this service signs with is trusted.
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm", "The access token's algorithm is not accepted.")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("unknown_key", "The access token was signed by an unknown key.")
        return key

    def _decode(self, token: str, key: Ed25519PublicKey) -> dict[str, Any]:
        try:
            # Time, issuer and audience are checked by the caller against the injected clock and exactly.
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": ["iss", "aud", "sub", "iat", "exp", "jti"],
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenError("signature", "The access token's signature is not valid.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", "The access token is malformed.") from exc
        return claims
