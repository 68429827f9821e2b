"""Typed clients of the services kyc calls, over shared/internal_client.py; the models are shared/contracts'."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from shared.contracts.identity import CustomerContacts, DeclaredIdentity, KycStatus, KycStatusUpdate
from shared.internal_client import InternalClient
from shared.problems import Problem

M = TypeVar("M", bound=BaseModel)


class AuthCallFailed(Problem):
    """auth answered something other than the contract's answer (not a customer the caller can fix)."""

    status = 502
    code = "auth_unavailable"


class CustomerNotFound(Problem):
    status = 404
    code = "customer_not_found"


class AuthClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def declared_identity(self, customer_id: str) -> DeclaredIdentity:
        return await self._customer_read(customer_id, "declared-identity", DeclaredIdentity)

    async def contacts(self, customer_id: str) -> CustomerContacts:
        return await self._customer_read(customer_id, "contacts", CustomerContacts)

    async def kyc_status(self, customer_id: str) -> KycStatus:
        return await self._customer_read(customer_id, "kyc", KycStatus)

    async def _customer_read(self, customer_id: str, what: str, model: type[M]) -> M:
        """GET /internal/customers/{id}/{what} as its contract's model; 404 CustomerNotFound, else AuthCallFailed."""
        response = await self._client.request("auth", "GET", f"/internal/customers/{customer_id}/{what}")
        if response.status_code == 404:
            raise CustomerNotFound("auth knows no such customer.")
        if response.status_code != 200:
            raise AuthCallFailed(f"auth answered {response.status_code} for the customer's {what}.")
        return model.model_validate_json(response.content)

    async def record_kyc(self, customer_id: str, update: KycStatusUpdate) -> KycStatus:
        """PUT: idempotent, so the internal client may retry it; any answer but 200 raises AuthCallFailed (the
        relay keeps the update and tries again later)."""
        response = await self._client.request(
            "auth", "PUT", f"/internal/customers/{customer_id}/kyc", json=update.model_dump(mode="json")
        )
        if response.status_code != 200:
            raise AuthCallFailed(
                f"auth answered {response.status_code} to the KYC status.", status_code=response.status_code
            )
        return KycStatus.model_validate_json(response.content)
