"""Step-up grants: once, only for their operation and key fields, and not after 60 s (AUTH-EACH-1)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from sekisho.sinks import SmsSink
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import open_account
from tests.auth.test_api_login import grant_by_sms
from tests.harness import System, client_for, identity_issuer


def digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


EMAIL_CHANGE = digest({"attribute": "email", "new": "a@example.jp"})
OTHER_EMAIL = digest({"attribute": "email", "new": "b@example.jp"})


async def as_gateway(system: System) -> httpx.AsyncClient:
    client = client_for(system.apps["auth"])
    client.headers[IDENTITY_HEADER] = identity_issuer("gateway", system.clock).issue("auth")
    return client


async def grant_for(system: System, sms: SmsSink, customer_id: str, operation: str, fields_digest: str) -> str:
    async with await as_gateway(system) as auth:
        created = await auth.post(
            "/internal/step-up/challenges",
            json={
                "customer_id": customer_id,
                "operation": operation,
                "fields_digest": fields_digest,
                "methods": ["sms"],
            },
        )
    assert created.status_code == 201, created.text
    assert created.json()["caution"]
    return await grant_by_sms(system, sms, created.json()["id"])


async def redeem(system: System, grant: str, customer_id: str, operation: str, fields_digest: str) -> httpx.Response:
    async with await as_gateway(system) as auth:
        return await auth.post(
            "/internal/step-up/redeem",
            json={"grant": grant, "customer_id": customer_id, "operation": operation, "fields_digest": fields_digest},
        )


# The grant mechanism of AUTH-EACH-1; the requirement is proven once the gateway policy redeems grants (issue 6).
async def test_a_grant_works_once_for_its_operation_and_fields_only(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    grant = await grant_for(system, sms, customer_id, "profile_change", EMAIL_CHANGE)
    other_fields = await redeem(system, grant, customer_id, "profile_change", OTHER_EMAIL)
    other_operation = await redeem(system, grant, customer_id, "withdrawal", EMAIL_CHANGE)
    assert (other_fields.status_code, other_operation.status_code) == (409, 409)
    first = await redeem(system, grant, customer_id, "profile_change", EMAIL_CHANGE)
    assert first.status_code == 200
    assert first.json()["factor"]["class"] == "possession"
    second = await redeem(system, grant, customer_id, "profile_change", EMAIL_CHANGE)
    assert second.status_code == 409
    assert second.json()["code"] == "grant_invalid"


async def test_a_grant_is_refused_after_60_seconds(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    grant = await grant_for(system, sms, customer_id, "withdrawal", digest({"amount": 30000, "atm": "atm-1"}))
    system.clock.advance(61)  # type: ignore[attr-defined]
    late = await redeem(system, grant, customer_id, "withdrawal", digest({"amount": 30000, "atm": "atm-1"}))
    assert late.status_code == 409


async def test_only_the_gateway_may_ask_for_a_step_up(system: System) -> None:
    customer_id = await open_account(system.gateway)
    async with client_for(system.apps["auth"]) as auth:
        auth.headers[IDENTITY_HEADER] = identity_issuer("txn", system.clock).issue("auth")
        response = await auth.post(
            "/internal/step-up/challenges",
            json={"customer_id": customer_id, "operation": "withdrawal", "fields_digest": EMAIL_CHANGE},
        )
    assert response.status_code == 403
