"""Short-lived signed service identity carried by every internal call (SEC-1, DATA-3).

A token is a compact JWT (HS256 over a secret only the services hold) naming the calling service
(`iss`), the one service it is meant for (`aud`), when it was made and when it dies (`iat`, `exp`,
a minute by default), and optionally the end-user context the gateway vouches for (`ctx`).
A token made for one service is refused by every other; a token signed with an unknown secret,
expired, or from the future is refused.

The JWS is made and checked here with the standard library's HMAC, not PyJWT: PyJWT checks at every call that
the secret is not a PEM, SSH or DER public key (two failed key parses), which cost more than the HMAC itself on
every internal call. Only the one header sekisho issues is accepted (HS256), so no other algorithm, "none"
included, can ever be chosen by a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from shared.clock import Clock
from shared.settings import SERVICE_NAMES

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# The compact JWS header of every token: {"alg":"HS256","typ":"JWT"}, as PyJWT wrote it before.
_HEADER = _b64(_json({"alg": ALGORITHM, "typ": "JWT"}))


def _signature(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


class IdentityError(Exception):
    """The presented identity is missing, malformed, forged, expired or meant for another service."""


@dataclass(frozen=True)
class ServiceIdentity:
    caller: str
    audience: str
    issued_at: int
    expires_at: int
    context: dict[str, Any] = field(default_factory=dict)


class IdentityIssuer:
    """Mints tokens for one calling service. Context-free tokens are cached for half their life."""

    def __init__(self, *, service: str, secret: str, clock: Clock, ttl_seconds: int = 60) -> None:
        self.service = service
        self._secret = secret.encode()
        self._clock = clock
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str]] = {}

    def issue(self, audience: str, context: dict[str, Any] | None = None) -> str:
        now = self._clock.timestamp()
        if not context:
            cached = self._cache.get(audience)
            if cached is not None and cached[0] > now:
                return cached[1]
        claims: dict[str, Any] = {"iss": self.service, "aud": audience, "iat": int(now), "exp": int(now) + self._ttl}
        if context:
            claims["ctx"] = context
        signing_input = f"{_HEADER}.{_b64(_json(claims))}"
        token = f"{signing_input}.{_b64(_signature(self._secret, signing_input.encode('ascii')))}"
        if not context:
            self._cache[audience] = (now + self._ttl / 2, token)
        return token


VERIFIED_CACHE_SIZE = 4096


class IdentityVerifier:
    """Checks tokens presented to one service; accepts the current secret and, during rotation, the previous one."""

    def __init__(self, *, service: str, secrets: list[str], clock: Clock) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self.service = service
        self._secrets = [secret.encode() for secret in secrets]
        self._clock = clock
        # Tokens whose signature checked out: callers reuse a token for half its life, and checking an HMAC
        # signature again (PyJWT parses and re-keys every time) was a tenth of a short request's cost.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def verify(self, token: str) -> ServiceIdentity:
        claims = self._decode(token)
        now = self._clock.timestamp()
        try:
            caller, audience = str(claims["iss"]), str(claims["aud"])
            issued_at, expires_at = int(claims["iat"]), int(claims["exp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IdentityError("The service identity lacks a required claim.") from exc
        if audience != self.service:
            raise IdentityError("The service identity was issued for another service.")
        if caller not in SERVICE_NAMES:
            raise IdentityError("The service identity names an unknown caller.")
        if expires_at + LEEWAY_SECONDS < now:
            raise IdentityError("The service identity has expired.")
        if issued_at - LEEWAY_SECONDS > now:
            raise IdentityError("The service identity is not valid yet.")
        context = claims.get("ctx") or {}
        if not isinstance(context, dict):
            raise IdentityError("The service identity context is malformed.")
        return ServiceIdentity(caller, audience, issued_at, expires_at, dict(context))  # the cached claims stay intact

    def _decode(self, token: str) -> dict[str, Any]:
        """The signed claims of `token`; time, audience and caller are checked by `verify` at every use."""
        claims = self._verified.get(token)
        if claims is not None:
            self._verified.move_to_end(token)
            return claims
        claims = self._check_signature(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _check_signature(self, token: str) -> dict[str, Any]:
        """The claims of a token signed with one of the secrets; time and audience are checked by `verify` against
        the injected clock, not the wall clock."""
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if header != _HEADER or not payload or not signature or "." in signature:
            raise IdentityError("The service identity is malformed.")
        try:
            signing_input = f"{header}.{payload}".encode("ascii")
            presented = _unb64(signature)
        except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
            raise IdentityError("The service identity is malformed.") from exc
        if not any(hmac.compare_digest(_signature(secret, signing_input), presented) for secret in self._secrets):
            raise IdentityError("The service identity signature is not valid.")
        try:
            claims = json.loads(_unb64(payload))
        except (binascii.Error, ValueError) as exc:
            raise IdentityError("The service identity is malformed.") from exc
        if not isinstance(claims, dict):
            raise IdentityError("The service identity is malformed.")
        return claims
