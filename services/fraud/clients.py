"""Typed clients of the services fraud calls while staff wait, over shared/internal_client.py (what must happen only
if a change commits goes through the outbox instead); the models are shared/contracts'."""

from __future__ import annotations

from shared.contracts.fraud_actions import INCIDENT_ACTIONS_PATH, IncidentActionRequest, IncidentActionResult
from shared.internal_client import InternalClient, answer_as
from shared.problems import Problem

# A batch of 500 customers locked (each with its sessions, notice and event) takes auth a few seconds.
BATCH_TIMEOUT_SECONDS = 30.0


class AuthCallFailed(Problem):
    """auth gave no usable answer: the customers asked about are reported as failed, for staff to retry."""

    status = 502
    code = "auth_unavailable"


class AuthClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def incident_actions(self, request: IncidentActionRequest) -> IncidentActionResult:
        """POST, sent again by the internal client only on no answer: auth applies each action once per incident
        and customer, so a repeat changes nothing."""
        response = await self._client.request(
            "auth",
            "POST",
            INCIDENT_ACTIONS_PATH,
            json=request.model_dump(mode="json"),
            idempotent=True,
            timeout_seconds=BATCH_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise AuthCallFailed(f"auth answered {response.status_code} to the incident's {request.action}.")
        return answer_as(IncidentActionResult, response.content, AuthCallFailed("auth's answer was not understood."))
