"""The internal client: identity and request id on every call; retries only what is safe to repeat."""

from __future__ import annotations

import httpx
import pytest

from shared.clock import FrozenClock
from shared.internal_client import InternalClient, ServiceUnavailable
from shared.logs import request_id_var
from shared.settings import ServiceSettings
from tests.harness import identity_issuer, identity_verifier


def client_with(handler: httpx.MockTransport, retries: int = 2) -> InternalClient:
    settings = ServiceSettings(internal_retries=retries)
    issuer = identity_issuer("gateway", FrozenClock())
    return InternalClient(settings=settings, issuer=issuer, transports={"txn": handler})


def counting(statuses: list[int]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1], json={})

    return httpx.MockTransport(handle), seen


async def test_every_call_carries_a_verifiable_identity_and_the_request_id() -> None:
    transport, seen = counting([200])
    client = client_with(transport)
    token = request_id_var.set("rid-42")
    try:
        await client.request("txn", "GET", "/x")
    finally:
        request_id_var.reset(token)
        await client.aclose()
    identity = identity_verifier("txn", FrozenClock()).verify(seen[0].headers["x-sekisho-identity"])
    assert identity.caller == "gateway"
    assert seen[0].headers["x-request-id"] == "rid-42"


async def test_an_idempotent_call_is_retried_after_a_503() -> None:
    transport, seen = counting([503, 503, 200])
    client = client_with(transport)
    response = await client.request("txn", "GET", "/x")
    await client.aclose()
    assert (response.status_code, len(seen)) == (200, 3)


async def test_a_post_is_never_repeated_behind_the_callers_back() -> None:
    transport, seen = counting([503, 200])
    client = client_with(transport)
    response = await client.request("txn", "POST", "/charges", json={})
    await client.aclose()
    assert (response.status_code, len(seen)) == (503, 1)


async def test_a_post_marked_idempotent_is_retried() -> None:
    transport, seen = counting([502, 200])
    client = client_with(transport)
    response = await client.request("txn", "POST", "/charges", json={}, idempotent=True)
    await client.aclose()
    assert (response.status_code, len(seen)) == (200, 2)


async def test_a_service_that_cannot_be_reached_raises_a_503_problem_after_the_retries() -> None:
    attempts: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("refused", request=request)

    client = client_with(httpx.MockTransport(refuse), retries=3)
    with pytest.raises(ServiceUnavailable) as caught:
        await client.request("txn", "GET", "/x")
    await client.aclose()
    assert len(attempts) == 4
    assert caught.value.status == 503
