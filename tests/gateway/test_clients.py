"""The gateway's typed clients: what they send is the contract's model, and an answer that does not fit the contract
is the gateway's own error, never a half-read dictionary."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from services.gateway import risk
from services.gateway.clients import AuthClient, AuthUnavailable, FraudClient, FraudUnavailable, NoStepUpMethod
from shared.clock import FrozenClock
from shared.contracts.scoring import ScoreRequest
from shared.contracts.step_up import RedeemRequest, StepUpChallengeRequest
from shared.internal_client import InternalClient
from shared.settings import ServiceSettings
from tests.harness import identity_issuer

DIGEST = "0" * 64


def internal(service: str, handle: Callable[[httpx.Request], httpx.Response]) -> InternalClient:
    settings = ServiceSettings(internal_retries=0)
    issuer = identity_issuer("gateway", FrozenClock())
    return InternalClient(settings=settings, issuer=issuer, transports={service: httpx.MockTransport(handle)})


async def test_the_score_request_is_sent_as_the_contract_without_empty_fields() -> None:
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        answer = {"score_id": "scr_1", "score": 7, "action": "allow", "reasons": [], "summary": ""}
        return httpx.Response(200, json={**answer, "rule_set_version": 3})

    client = internal("fraud", handle)
    asked = risk.score_request(
        "withdrawal", customer_id="cus_1", device_id=None, ip="192.0.2.1", body={"amount": 5000, "device_id": 7}
    )
    try:
        answer = await FraudClient(client).score(asked, timeout_seconds=1.0)
    finally:
        await client.aclose()
    assert seen == [{"operation": "withdrawal", "customer_id": "cus_1", "ip": "192.0.2.1", "amount": 5000}]
    ScoreRequest.model_validate(seen[0])  # what fraud's route takes
    assert (answer.score, answer.action, answer.rule_set_version) == (7, "allow", 3)


@pytest.mark.parametrize(
    "answer",
    [
        {"score_id": "scr_1", "score": 7, "action": "approve", "reasons": [], "summary": "", "rule_set_version": 1},
        {"score_id": "scr_1", "score": 101, "action": "allow", "reasons": [], "summary": "", "rule_set_version": 1},
        {"score": 7, "action": "allow"},
    ],
)
async def test_a_score_that_does_not_fit_the_contract_is_a_missing_score(answer: dict[str, object]) -> None:
    client = internal("fraud", lambda request: httpx.Response(200, json=answer))
    asked = risk.score_request("withdrawal", customer_id="cus_1", device_id=None, ip="192.0.2.1", body=None)
    try:
        with pytest.raises(FraudUnavailable):
            await FraudClient(client).score(asked, timeout_seconds=1.0)
        assert await risk.score(FraudClient(client), asked, timeout_seconds=1.0) is None
    finally:
        await client.aclose()


async def test_a_session_answer_that_does_not_fit_the_contract_is_a_503() -> None:
    client = internal("auth", lambda request: httpx.Response(200, json={"active": "maybe"}))
    try:
        with pytest.raises(AuthUnavailable) as raised:
            await AuthClient(client).session_state("ses_1")
    finally:
        await client.aclose()
    assert (raised.value.status, raised.value.code) == (503, "service_unavailable")


async def test_step_up_answers_map_to_the_gateways_own_outcomes() -> None:
    statuses = iter([422, 500, 409])
    client = internal("auth", lambda request: httpx.Response(next(statuses), json={}))
    auth = AuthClient(client)
    challenge = StepUpChallengeRequest(customer_id="cus_1", operation="withdrawal", fields_digest=DIGEST)
    try:
        with pytest.raises(NoStepUpMethod):
            await auth.step_up_challenge(challenge)
        with pytest.raises(AuthUnavailable):
            await auth.step_up_challenge(challenge)
        grant = RedeemRequest(grant="g" * 20, customer_id="cus_1", operation="withdrawal", fields_digest=DIGEST)
        assert await auth.redeem(grant) is None
    finally:
        await client.aclose()
