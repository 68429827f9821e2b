"""Authenticating customers and staff at the gateway: the access token's EdDSA signature, expiry and type.

The public keys come from auth (`GET /internal/keys`), fetched at first need, again when a token names a key id the
gateway has not seen (a rotation: at most every ten seconds, so tokens with made-up key ids cannot make it hammer
auth), and at least every minute, so a key dropped from auth's list stops verifying here within that minute. The
gateway publishes the same keys as a JWKS (`GET /.well-known/jwks.json`, jwks.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from services.gateway.clients import AuthClient
from shared.clock import Clock
from shared.problems import Problem
from shared.tokens import AccessClaims, SubjectType, TokenError, TokenVerifier

REFETCH_SECONDS = 10.0
KEYS_MAX_AGE_SECONDS = 60.0
# A live session is believed for this long before auth is asked again: a logout, a password change or a
# staff lock stops every token of the session within these seconds, not at the token's expiry.
SESSION_CHECK_SECONDS = 5.0


class Unauthenticated(Problem):
    status = 401
    code = "unauthorized"


class BearerAuthenticator:
    def __init__(
        self,
        *,
        auth: AuthClient,
        clock: Clock,
        max_lifetime_seconds: int | None = None,
        keys_max_age_seconds: float = KEYS_MAX_AGE_SECONDS,
        refetch_seconds: float = REFETCH_SECONDS,
    ) -> None:
        self._auth = auth
        self._clock = clock
        self._max_lifetime = max_lifetime_seconds
        self._keys_max_age = keys_max_age_seconds
        self._refetch = refetch_seconds
        self._verifier: TokenVerifier | None = None
        self._published: dict[str, str] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._live: dict[str, float] = {}  # session id -> until when it is believed live
        # session id -> when its customer's e-mail or phone last changed (Unix seconds), from the same check
        self._contact_changed: dict[str, int | None] = {}
        # session id -> its customer's KYC status (KYC-2), from the same check
        self._kyc: dict[str, str | None] = {}
        self._ended: set[str] = set()

    async def _keys(self, *, refresh: bool) -> TokenVerifier:
        """`refresh`: a token named a key id not known here; asked again only if the last fetch is old enough."""
        async with self._lock:
            # By the injected clock; a clock set back counts as stale rather than freezing the keys.
            age = self._clock.timestamp() - self._fetched_at
            stale = age < 0 or age > self._keys_max_age
            if self._verifier is None or stale or (refresh and age > self._refetch):
                keys = await self._auth.public_keys()
                self._verifier = TokenVerifier(keys.keys, clock=self._clock, max_lifetime_seconds=self._max_lifetime)
                self._published = dict(keys.keys)
                self._fetched_at = self._clock.timestamp()
            return self._verifier

    async def published_keys(self) -> dict[str, str]:
        """Key id -> public PEM of the keys access tokens verify with now (auth's list, at most a minute old)."""
        await self._keys(refresh=False)
        return dict(self._published)

    async def authenticate(
        self, request: Request, subject_type: SubjectType, *, fresh_session: bool = False
    ) -> AccessClaims:
        """The token's claims once it and its session stand. `fresh_session`: ask auth now rather than believe the
        last answer (operations that depend on the latest contact change: another replica may have applied it)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="sekisho"'}
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Sign in first: this route needs an access token.", headers=challenge)
        claims = await self._verified(token.strip(), subject_type)
        if not await self._session_live(claims.session_id, fresh=fresh_session):
            raise Unauthenticated(
                "The session has ended; sign in again.",
                reason="session_ended",
                headers={"WWW-Authenticate": 'Bearer realm="sekisho", error="invalid_token"'},
            )
        return claims

    def contact_changed_at(self, session_id: str) -> int | None:
        """When the session's customer last changed e-mail or phone or reset the password, as of the last session
        check (None: never)."""
        return self._contact_changed.get(session_id)

    def kyc_status(self, session_id: str) -> str | None:
        """The session's customer's KYC status as of the last session check (None: staff, or not known)."""
        return self._kyc.get(session_id)

    async def _session_live(self, session_id: str, *, fresh: bool = False) -> bool:
        now = self._clock.timestamp()
        if session_id in self._ended:
            return False
        if not fresh and self._live.get(session_id, 0.0) > now:
            return True
        state = await self._auth.session_state(session_id)
        if state.active:
            if len(self._live) > 100_000:
                self._live.clear()
                self._contact_changed.clear()
                self._kyc.clear()
            self._live[session_id] = now + SESSION_CHECK_SECONDS
            self._contact_changed[session_id] = state.contact_changed_at
            self._kyc[session_id] = state.kyc_status
            return True
        self._live.pop(session_id, None)
        self._contact_changed.pop(session_id, None)
        self._kyc.pop(session_id, None)
        self._ended.add(session_id)
        return False

    def forget_sessions(self, session_ids: list[str]) -> None:
        """Sessions auth said it just ended: refused from now on by this gateway, whatever it believed."""
        for session_id in (item.strip() for item in session_ids[:1000]):
            if session_id:
                self._live.pop(session_id, None)
                self._contact_changed.pop(session_id, None)
                self._kyc.pop(session_id, None)
                self._ended.add(session_id)

    async def _verified(self, token: str, subject_type: SubjectType) -> AccessClaims:
        verifier = await self._keys(refresh=False)
        try:
            return verifier.verify(token, subject_type=subject_type)
        except TokenError as exc:
            if exc.reason == "unknown_key":
                verifier = await self._keys(refresh=True)
                try:
                    return verifier.verify(token, subject_type=subject_type)
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
        "outsourced": claims.outsourced,
    }
