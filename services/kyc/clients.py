"""Typed clients of the services kyc calls, over shared/internal_client.py; the models are shared/contracts'."""

from __future__ import annotations

from shared.contracts.identity import CustomerContacts, DeclaredIdentity, KycStatus, KycStatusUpdate
from shared.internal_client import InternalClient
from shared.problems import Problem


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
        response = await self._client.request("auth", "GET", f"/internal/customers/{customer_id}/declared-identity")
        if response.status_code == 404:
            raise CustomerNotFound("auth knows no such customer.")
        if response.status_code != 200:
            raise AuthCallFailed(f"auth answered {response.status_code} for the declared identity.")
        return DeclaredIdentity.model_validate_json(response.content)

    async def contacts(self, customer_id: str) -> CustomerContacts:
        response = await self._client.request("auth", "GET", f"/internal/customers/{customer_id}/contacts")
        if response.status_code == 404:
            raise CustomerNotFound("auth knows no such customer.")
        if response.status_code != 200:
            raise AuthCallFailed(f"auth answered {response.status_code} for the contacts.")
        return CustomerContacts.model_validate_json(response.content)

    async def kyc_status(self, customer_id: str) -> KycStatus:
        response = await self._client.request("auth", "GET", f"/internal/customers/{customer_id}/kyc")
        if response.status_code == 404:
            raise CustomerNotFound("auth knows no such customer.")
        if response.status_code != 200:
            raise AuthCallFailed(f"auth answered {response.status_code} for the KYC status.")
        return KycStatus.model_validate_json(response.content)

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
