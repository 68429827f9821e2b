"""Typed clients of the services txn calls, over shared/internal_client.py; the models are shared/contracts'.

- auth: the customer's KYC status as it stands (checked again before money moves: a verification withdrawn
  seconds ago counts) and the registered contacts (where a notice goes, LINK-2, AUTH-WD-2).
- fraud: the score of an operation before money moves (the gateway scored the customer's request; the partner's
  authorize and a charge are scored here again with the amount and the line).
- kyc: whether a bank account's holder is the verified customer (KYC-4).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from shared.contracts.identity import CustomerContacts, IdentityMatch, IdentityMatchRequest, KycStatus
from shared.contracts.scoring import ScoreAnswer, ScoreRequest
from shared.internal_client import InternalClient, answer_as
from shared.problems import Problem

JSON = {"Content-Type": "application/json"}
M = TypeVar("M", bound=BaseModel)


class DependencyUnavailable(Problem):
    """Another service gave no usable answer: money does not move on a check that could not be made."""

    status = 503
    code = "service_unavailable"


class CustomerNotFound(Problem):
    status = 404
    code = "not_found"


class AuthClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def kyc_status(self, customer_id: str) -> KycStatus:
        return await self._customer_read(customer_id, "kyc", KycStatus)

    async def contacts(self, customer_id: str) -> CustomerContacts:
        return await self._customer_read(customer_id, "contacts", CustomerContacts)

    async def _customer_read(self, customer_id: str, what: str, model: type[M]) -> M:
        try:
            response = await self._client.request("auth", "GET", f"/internal/customers/{customer_id}/{what}")
        except Problem as exc:
            raise DependencyUnavailable(f"auth cannot be asked for the customer's {what} now.") from exc
        if response.status_code == 404:
            raise CustomerNotFound("No such customer.")
        if response.status_code != 200:
            raise DependencyUnavailable(f"auth answered {response.status_code} for the customer's {what}.")
        return answer_as(model, response.content, DependencyUnavailable(f"auth's {what} answer is not usable."))


class FraudClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def score(self, request: ScoreRequest, *, timeout_seconds: float = 2.0) -> ScoreAnswer:
        """Fail closed: no score, no money (DependencyUnavailable)."""
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
        except Problem as exc:
            raise DependencyUnavailable("The fraud check cannot be made now.") from exc
        if response.status_code != 200:
            raise DependencyUnavailable(f"fraud answered {response.status_code} to the score.")
        return answer_as(ScoreAnswer, response.content, DependencyUnavailable("fraud's score is not usable."))


class KycClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def identity_match(self, request: IdentityMatchRequest) -> IdentityMatch:
        try:
            response = await self._client.request(
                "kyc", "POST", "/internal/identity-matches", content=request.model_dump_json().encode(), headers=JSON
            )
        except Problem as exc:
            raise DependencyUnavailable("The identity check cannot be made now.") from exc
        if response.status_code != 200:
            raise DependencyUnavailable(f"kyc answered {response.status_code} to the identity match.")
        return answer_as(IdentityMatch, response.content, DependencyUnavailable("kyc's identity match is not usable."))
