"""Short-lived signed service identity carried by every internal call (SEC-1, DATA-3).

A token is a compact JWT (HS256 over a secret only the services hold) naming the calling service
(`iss`), the one service it is meant for (`aud`), when it was made and when it dies (`iat`, `exp`,
a minute by default), and optionally the end-user context the gateway vouches for (`ctx`).
A token made for one service is refused by every other; a token signed with an unknown secret,
expired, or from the future is refused.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jwt

from shared.clock import Clock
from shared.settings import SERVICE_NAMES

ALGORITHM = "HS256"
LEEWAY_SECONDS = 5


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
        self._secret = secret
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
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
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
        self._secrets = secrets
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
        for secret in self._secrets:
            try:
                # Time and audience are checked above against the injected clock, not the wall clock.
                claims: dict[str, Any] = jwt.decode(
                    token,
                    secret,
                    algorithms=[ALGORITHM],
                    options={
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "require": ["iss", "aud", "iat", "exp"],
                    },
                )
                return claims
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise IdentityError("The service identity is malformed.") from exc
        raise IdentityError("The service identity signature is not valid.")
