"""Short-lived signed service identity carried by every internal call (SEC-1, DATA-3).

A token is a compact JWS (EdDSA over Ed25519, RFC 8037) naming the calling service (`iss`), the one service it
is meant for (`aud`), when it was made and when it dies (`iat`, `exp`, a minute by default), and optionally the
end-user context the gateway vouches for (`ctx`). Each service signs with a key of its own
(shared/identity_keys.py); a receiver checks a token that says it comes from X only with X's public keys, so
holding one service's key never lets anyone speak as another. Only the gateway may vouch for an end user: a
token from any other service that carries a `ctx` is refused, whatever it says.

A token made for one service is refused by every other; a token signed with an unknown key, by the key of another
service than its `iss`, expired, or from the future is refused. The header names the signing key (`kid`), and
only the headers of the configured keys are accepted, so no other algorithm, "none" included, can ever be chosen
by a token. The JWS is made and checked here rather than with PyJWT: internal calls are on the hot path, and
PyJWT parses the header and looks the algorithm up at every call.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.clock import Clock
from shared.identity_keys import key_id, load_identity_key
from shared.settings import SERVICE_NAMES

ALGORITHM = "EdDSA"
LEEWAY_SECONDS = 5
# The callers that may carry an end user's context (`ctx`): the gateway authenticates customers, staff and partners.
CONTEXT_CALLERS = frozenset({"gateway"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def header_for(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The compact JWS header of every token signed with `key`."""
    return _b64(_json({"alg": ALGORITHM, "kid": key_id(key), "typ": "JWT"}))


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
    """Mints tokens for one calling service with its own key. Context-free tokens are cached for half their life."""

    def __init__(self, *, service: str, key: Ed25519PrivateKey | str, clock: Clock, ttl_seconds: int = 60) -> None:
        self.service = service
        self._key = key if isinstance(key, Ed25519PrivateKey) else load_identity_key(key)
        self._header = header_for(self._key)
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
        signing_input = f"{self._header}.{_b64(_json(claims))}"
        token = f"{signing_input}.{_b64(self._key.sign(signing_input.encode('ascii')))}"
        if not context:
            self._cache[audience] = (now + self._ttl / 2, token)
        return token


VERIFIED_CACHE_SIZE = 4096


class IdentityVerifier:
    """Checks tokens presented to one service against the public keys of their callers: each caller's current key
    and, while it rotates, its previous ones."""

    def __init__(self, *, service: str, public_keys: Mapping[str, Sequence[Ed25519PublicKey]], clock: Clock) -> None:
        self.service = service
        # Header -> (the service that owns the key, the key): the header names the key, the key names its owner.
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        for caller, keys in public_keys.items():
            for key in keys:
                header = header_for(key)
                owner = self._keys.setdefault(header, (caller, key))[0]
                if owner != caller:
                    raise ValueError(f"the same identity key is listed for {owner} and {caller}")
        if not self._keys:
            raise ValueError("at least one caller's public key is needed")
        self._clock = clock
        # Tokens whose signature checked out: callers reuse a token for half its life, and checking an Ed25519
        # signature again costs more than the rest of a short internal request's own work.
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
        if "ctx" in claims and caller not in CONTEXT_CALLERS:
            raise IdentityError(f"Only the gateway vouches for an end user: a context from {caller} is refused.")
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
        """The claims of a token signed with the key its header names, whose owner is the token's `iss`; time and
        audience are checked by `verify` against the injected clock, not the wall clock."""
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if not payload or not signature or "." in signature:
            raise IdentityError("The service identity is malformed.")
        known = self._keys.get(header)
        if known is None:
            raise IdentityError("The service identity is signed with an unknown key.")
        owner, key = known
        try:
            signing_input = f"{header}.{payload}".encode("ascii")
            key.verify(_unb64(signature), signing_input)
        except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
            raise IdentityError("The service identity is malformed.") from exc
        except InvalidSignature as exc:
            raise IdentityError("The service identity signature is not valid.") from exc
        try:
            claims = json.loads(_unb64(payload))
        except (binascii.Error, ValueError) as exc:
            raise IdentityError("The service identity is malformed.") from exc
        if not isinstance(claims, dict):
            raise IdentityError("The service identity is malformed.")
        if claims.get("iss") != owner:
            # A service's key speaks for that service alone, whatever `iss` the token claims.
            raise IdentityError("The service identity is signed with the key of another service than its caller.")
        return claims
