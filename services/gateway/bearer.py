"""Authenticating customers and staff at the gateway: the access token's EdDSA signature, expiry and type.

The public keys come from auth (`GET /internal/keys`), fetched at first need and again when a token
names a key id the gateway has not seen (a rotation), at most every ten seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import Request

from shared.clock import Clock
from shared.internal_client import InternalClient
from shared.problems import Problem
from shared.tokens import AccessClaims, SubjectType, TokenError, TokenVerifier

REFETCH_SECONDS = 10.0


class Unauthenticated(Problem):
    status = 401
    code = "unauthorized"


class BearerAuthenticator:
    def __init__(self, *, client: InternalClient, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._verifier: TokenVerifier | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _keys(self, *, refresh: bool) -> TokenVerifier:
        async with self._lock:
            stale = time.monotonic() - self._fetched_at > REFETCH_SECONDS
            if self._verifier is None or (refresh and stale):
                response = await self._client.request("auth", "GET", "/internal/keys")
                if response.status_code != 200:
                    raise Problem("Sign-in cannot be checked right now.", code="service_unavailable", status=503)
                self._verifier = TokenVerifier(response.json()["keys"], clock=self._clock)
                self._fetched_at = time.monotonic()
            return self._verifier

    async def authenticate(self, request: Request, subject_type: SubjectType) -> AccessClaims:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="sekisho"'}
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Sign in first: this route needs an access token.", headers=challenge)
        verifier = await self._keys(refresh=False)
        try:
            return verifier.verify(token.strip(), subject_type=subject_type)
        except TokenError as exc:
            if exc.reason == "unknown_key":
                verifier = await self._keys(refresh=True)
                try:
                    return verifier.verify(token.strip(), subject_type=subject_type)
                except TokenError as again:
                    exc = again
            raise Unauthenticated(
                "The access token is not valid.",
                reason=exc.reason,
                headers={"WWW-Authenticate": 'Bearer realm="sekisho", error="invalid_token"'},
            ) from exc


def identity_context(claims: AccessClaims) -> dict[str, Any]:
    """What the gateway vouches for about the caller, carried inside the signed internal identity."""
    return {
        "subject": claims.subject,
        "subject_type": claims.subject_type,
        "session_id": claims.session_id,
        "device_id": claims.device_id,
        "factors": [factor.to_claim() for factor in claims.factors],
        "acr": claims.acr,
        "role": claims.role,
    }
