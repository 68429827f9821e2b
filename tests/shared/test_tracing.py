"""Traces across the services (shared/tracing.py), in-process, exported over real OTLP/HTTP to a receiver the test
runs: one trace from the gateway through auth to notify, the outbox included; the edge starts every trace itself;
nothing is traced or stored when no exporter is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.auth import models as auth_models
from shared.clock import FrozenClock
from shared.ids import new_token
from shared.tracing import TracingMiddleware
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import login
from tests.harness import Backend, System, in_process_system
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.servers import eventually

PHONE_E164 = "+81" + CUSTOMER["phone"].replace("-", "")[1:]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    # Spans leave a moment after they end (the default waits 5 s); stopping the system exports the rest.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    running = OtlpReceiver().start()
    yield running
    running.stop()


@asynccontextmanager
async def traced_system(backend: Backend, sms: SmsSink, endpoint: str | None) -> AsyncIterator[System]:
    every = {"otlp_endpoint": endpoint}
    overrides = {
        "gateway": every,
        "kyc": every,
        "txn": every,
        "fraud": every,
        "auth": {**every, "auth_signing_key": SIGNING_KEY},
        "notify": {**every, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as system:
        yield system


async def code_sent(system: System, sms: SmsSink, headers: dict[str, str]) -> str:
    """A login challenge whose code auth queues for notify, which sends it by SMS: the challenge's id."""
    await open_account(system.gateway)
    first = await login(system.gateway)
    assert first.status_code == 401, first.text
    challenge_id: str = first.json()["challenge"]["id"]
    sent = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"}, headers=headers
    )
    assert sent.status_code == 202, sent.text
    await eventually(lambda: any(m.to == PHONE_E164 for m in sms.received))
    return challenge_id


def one(spans: list[ReceivedSpan], **where: Any) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, key) == value for key, value in where.items())]
    assert len(found) == 1, (where, [(s.service, s.kind, s.name) for s in spans])
    return found[0]


def child_of(spans: list[ReceivedSpan], parent: ReceivedSpan, service: str, kind: str) -> ReceivedSpan:
    return one(spans, parent_id=parent.span_id, service=service, kind=kind)


async def test_one_trace_goes_from_the_gateway_through_auth_and_its_outbox_to_notify(
    backend: Backend, sms: SmsSink, receiver: OtlpReceiver
) -> None:
    request_id = "trace-" + new_token(8)
    async with traced_system(backend, sms, receiver.url) as system:
        challenge_id = await code_sent(system, sms, {"X-Request-ID": request_id})
        await eventually(lambda: any(s.name == "POST fraud" and s.service == "auth" for s in receiver.received()))
        async with system.apps["auth"].state.service.database.transaction() as session:
            stored = (await session.execute(select(auth_models.outbox.c.traceparent))).scalars().all()
    # Stopping the system exported every span still queued.
    spans = receiver.received()
    edge = one(spans, service="gateway", kind="server", name="POST /v1/auth/challenges/{challenge_id}/send")
    assert edge.parent_id is None  # the edge starts the trace
    assert (edge.attributes["http.route"], edge.attributes["http.response.status_code"]) == (
        "/v1/auth/challenges/{challenge_id}/send",
        202,
    )
    assert edge.attributes["sekisho.request_id"] == request_id
    trace = receiver.trace(edge.trace_id)
    forward = child_of(trace, edge, "gateway", "client")
    assert forward.name == "POST auth"
    at_auth = child_of(trace, forward, "auth", "server")
    assert (at_auth.attributes["sekisho.caller"], at_auth.attributes["sekisho.request_id"]) == ("gateway", request_id)
    # The code went through auth's outbox: the delivery, sent by the relay after the request ended, continues the
    # trace of the request that queued it.
    relayed = one(trace, parent_id=at_auth.span_id, service="auth", kind="client", name="POST notify")
    at_notify = child_of(trace, relayed, "notify", "server")
    assert at_notify.name == "POST " + at_notify.attributes["http.route"]
    assert at_notify.attributes["sekisho.caller"] == "auth"
    assert f"-{at_auth.span_id}-" in " ".join(value for value in stored if value)
    # Events leave for fraud in batches, many requests' in one call: that call starts its own trace, linked to the
    # span of each request that queued one (the account opening's among them).
    opening = one(spans, service="gateway", kind="server", name="POST /v1/accounts")
    forwarded = one(spans, parent_id=opening.span_id, service="gateway", kind="client", name="POST auth")
    opened_at_auth = child_of(spans, forwarded, "auth", "server")
    batches = [s for s in spans if (s.service, s.kind, s.name) == ("auth", "client", "POST fraud")]
    assert batches
    assert all(batch.parent_id is None for batch in batches)
    assert any((opened_at_auth.trace_id, opened_at_auth.span_id) in batch.links for batch in batches)
    # No raw path (the challenge id), no phone number, no code in anything exported.
    exported = b"".join(receiver.bodies)
    for secret in (challenge_id, PHONE_E164, CUSTOMER["phone"], CUSTOMER["email"], sms.received[-1].body):
        assert secret.encode() not in exported


FORGED_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
FORGED_SPAN = "00f067aa0ba902b7"


# What an outside caller may send: a context of its own (sampled or not), and malformed ones.
OUTSIDE = {
    "forged-sampled": f"00-{FORGED_TRACE}-{FORGED_SPAN}-01",
    "forged-unsampled": f"00-{FORGED_TRACE}-{FORGED_SPAN}-00",  # the edge's own sampler decides, not the caller
    "garbage": "00-zzzz-not-a-trace",
    "bad-version": "ff-" + "0" * 32 + "-" + "0" * 16 + "-01",
    "oversized": "00-" + "a" * 5000,
}


async def test_an_outside_traceparent_never_becomes_the_parent_of_internal_spans(
    backend: Backend, sms: SmsSink, receiver: OtlpReceiver
) -> None:
    async with traced_system(backend, sms, receiver.url) as system:
        await open_account(system.gateway)
        for case, traceparent in OUTSIDE.items():
            first = await login(system.gateway)
            assert first.status_code == 401, first.text
            sent = await system.gateway.post(
                f"/v1/auth/challenges/{first.json()['challenge']['id']}/send",
                json={"method": "sms"},
                headers={
                    "X-Request-ID": case,
                    "traceparent": traceparent,
                    "tracestate": "evil=1",
                    "baggage": "customer_id=cus_x",
                },
            )
            assert sent.status_code == 202, (case, sent.text)
        await eventually(lambda: len([m for m in sms.received if m.to == PHONE_E164]) == len(OUTSIDE))
    spans = receiver.received()
    assert all(span.trace_id != FORGED_TRACE for span in spans)
    for case, traceparent in OUTSIDE.items():
        edge = one(
            [s for s in spans if s.attributes.get("sekisho.request_id") == case], service="gateway", kind="server"
        )
        assert edge.parent_id is None, case
        # A well-formed outside context is kept as a link (to find the caller's side), a malformed one not at all.
        assert edge.links == (((FORGED_TRACE, FORGED_SPAN),) if FORGED_TRACE in traceparent else ()), case
        # Every span of the request lives in the edge's own trace, recorded (sampled) whatever the caller's flags.
        trace = receiver.trace(edge.trace_id)
        assert {(span.service, span.kind) for span in trace} >= {
            ("gateway", "server"),
            ("auth", "server"),
            ("notify", "server"),
        }, case
    assert b"evil" not in b"".join(receiver.bodies)
    assert b"cus_x" not in b"".join(receiver.bodies)


async def test_a_caller_without_a_sekisho_identity_cannot_place_a_span_in_a_trace(
    backend: Backend, sms: SmsSink, receiver: OtlpReceiver
) -> None:
    from tests.harness import client_for

    async with traced_system(backend, sms, receiver.url) as system, client_for(system.apps["auth"]) as direct:
        refused = await direct.post(
            "/internal/trace", json={"hops": []}, headers={"traceparent": f"00-{FORGED_TRACE}-{FORGED_SPAN}-01"}
        )
        assert refused.status_code == 401
    assert all(span.trace_id != FORGED_TRACE for span in receiver.received())


async def test_without_an_endpoint_nothing_is_traced_nor_stored(
    backend: Backend, sms: SmsSink, receiver: OtlpReceiver
) -> None:
    async with traced_system(backend, sms, None) as system:
        for app in system.apps.values():
            assert all(entry.cls is not TracingMiddleware for entry in app.user_middleware)
            assert app.state.service.client.traced is False
        await code_sent(system, sms, {"traceparent": f"00-{FORGED_TRACE}-{FORGED_SPAN}-01"})
        async with system.apps["auth"].state.service.database.transaction() as session:
            stored = (await session.execute(select(auth_models.outbox.c.traceparent))).scalars().all()
    assert stored
    assert set(stored) == {None}
    assert receiver.received() == []


def test_the_endpoint_is_read_from_the_standard_variable_and_must_be_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from shared.settings import ServiceSettings

    monkeypatch.delenv("SEKISHO_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert ServiceSettings().otlp_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert ServiceSettings().otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")  # set but empty: off, as the OpenTelemetry SDKs read it
    assert ServiceSettings().otlp_endpoint is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    with pytest.raises(ValidationError, match="base URL"):
        ServiceSettings()
