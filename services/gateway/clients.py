"""The gateway's typed calls to other services: one class per service, on shared/contracts' models.

Each method sends the contract's request, parses the answer into the contract's model and raises the gateway's
own error when the other side cannot give a usable answer; the callers decide what that error means (a 503, or a
score taken as missing). The forward of a customer's request (proxy.py) is not here: it carries any body as it is.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from shared.contracts.scoring import DeniedNetworks, ScoreAnswer, ScoreRequest
from shared.contracts.sessions import PublicKeys, SessionState
from shared.contracts.step_up import Redeemed, RedeemRequest, StepUpChallenge, StepUpChallengeRequest
from shared.internal_client import InternalClient, answer_as
from shared.problems import Problem

JSON = {"Content-Type": "application/json"}
M = TypeVar("M", bound=BaseModel)


class AuthUnavailable(Problem):
    """auth did not give a usable answer: what depends on it cannot be checked now."""

    status = 503
    code = "service_unavailable"


class FraudUnavailable(Problem):
    """fraud did not give a usable answer (down, too slow, refused, unreadable)."""

    status = 503
    code = "service_unavailable"


class NoStepUpMethod(Exception):
    """auth has no method among those asked for that the customer can answer (no authenticator app enrolled)."""


class AuthClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def public_keys(self) -> PublicKeys:
        response = await self._client.request("auth", "GET", "/internal/keys")
        if response.status_code != 200:
            raise AuthUnavailable("Sign-in cannot be checked right now.")
        return answer_as(PublicKeys, response.content, AuthUnavailable("Sign-in cannot be checked right now."))

    async def session_state(self, session_id: str) -> SessionState:
        response = await self._client.request("auth", "GET", f"/internal/sessions/{session_id}")
        if response.status_code != 200:
            raise AuthUnavailable("Sign-in cannot be checked right now.")
        return answer_as(SessionState, response.content, AuthUnavailable("Sign-in cannot be checked right now."))

    async def step_up_challenge(self, request: StepUpChallengeRequest) -> StepUpChallenge:
        """Raises NoStepUpMethod when none of `request.methods` is the customer's."""
        unavailable = AuthUnavailable("The additional verification cannot be started right now.")
        response = await self._client.request(
            "auth", "POST", "/internal/step-up/challenges", content=_body(request), headers=JSON, idempotent=False
        )
        if response.status_code == 422:
            raise NoStepUpMethod
        if response.status_code != 201:
            raise unavailable
        return answer_as(StepUpChallenge, response.content, unavailable)

    async def redeem(self, request: RedeemRequest) -> Redeemed | None:
        """The grant's factor, used up; None when auth refuses the grant (unknown, used, expired, other fields)."""
        unavailable = AuthUnavailable("The step-up grant cannot be checked right now.")
        response = await self._client.request(
            "auth", "POST", "/internal/step-up/redeem", content=_body(request), headers=JSON, idempotent=False
        )
        if response.status_code in (409, 422):
            return None
        if response.status_code != 200:
            raise unavailable
        return answer_as(Redeemed, response.content, unavailable)


class FraudClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def score(self, request: ScoreRequest, *, timeout_seconds: float) -> ScoreAnswer:
        """On the path of every scored request: one serialization out, one parse of the bytes back."""
        try:
            response = await self._client.request(
                "fraud",
                "POST",
                "/score",
                content=request.model_dump_json(exclude_none=True).encode(),
                headers=JSON,
                timeout_seconds=timeout_seconds,
                idempotent=False,
            )
        except Problem as exc:  # down or too slow
            raise FraudUnavailable(exc.detail) from exc
        if response.status_code != 200:
            raise FraudUnavailable(f"fraud answered {response.status_code}")
        return answer_as(ScoreAnswer, response.content, FraudUnavailable("fraud's score is not usable"))

    async def denied_networks(self) -> DeniedNetworks:
        try:
            response = await self._client.request("fraud", "GET", "/internal/lists/ips/denied", timeout_seconds=2.0)
        except Problem as exc:
            raise FraudUnavailable(exc.detail) from exc
        if response.status_code != 200:
            raise FraudUnavailable(f"fraud answered {response.status_code}")
        return answer_as(DeniedNetworks, response.content, FraudUnavailable("fraud's deny list is not usable"))


def _body(request: StepUpChallengeRequest | RedeemRequest) -> bytes:
    return request.model_dump_json().encode()
