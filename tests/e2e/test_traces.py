"""End to end: `sekisho up` with OTEL_EXPORTER_OTLP_ENDPOINT set exports one trace per request across real processes
and real HTTP, from the gateway through auth and auth's outbox to notify, to an OTLP/HTTP receiver the test runs."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sekisho.launcher import LaunchedSystem, launch
from tests.auth.conftest import CUSTOMER
from tests.conftest import require_postgres
from tests.e2e.test_processes import processes_marked
from tests.harness import drop_schemas, new_backend
from tests.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

OUTSIDE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OUTSIDE_TRACEPARENT = f"00-{OUTSIDE_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def traced(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> Iterator[tuple[LaunchedSystem, OtlpReceiver]]:
    if request.param == "postgres":
        require_postgres(postgres_url)
    backend = new_backend(request.param, tmp_path, postgres_url)
    receiver = OtlpReceiver().start()
    mark = uuid.uuid4().hex
    env = {
        "SEKISHO_E2E_MARK": mark,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # spans leave 0.1 s after they end, not 5 s
    }
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    try:
        with launch(tmp_path, env) as launched:
            yield launched, receiver
    finally:
        for pid in processes_marked(mark):
            os.kill(pid, signal.SIGKILL)
        receiver.stop()
        asyncio.run(drop_schemas(backend))


def one(spans: list[ReceivedSpan], **where: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, key) == value for key, value in where.items())]
    assert len(found) == 1, (where, [(s.service, s.kind, s.name, s.parent_id) for s in spans])
    return found[0]


def wait_for(receiver: OtlpReceiver, trace_id: str, *wanted: str, within: float = 60.0) -> list[ReceivedSpan]:
    """The trace once it holds a span of each `service kind name`: each process exports on its own schedule."""
    deadline = time.monotonic() + within
    while not set(wanted) <= {f"{s.service} {s.kind} {s.name}" for s in receiver.trace(trace_id)}:
        assert time.monotonic() < deadline, [(s.service, s.kind, s.name) for s in receiver.trace(trace_id)]
        time.sleep(0.1)
    return receiver.trace(trace_id)


def test_a_login_code_is_one_trace_from_the_gateway_through_auth_to_notify(
    traced: tuple[LaunchedSystem, OtlpReceiver],
) -> None:
    system, receiver = traced
    gateway = system.urls["gateway"]
    opened = httpx.post(gateway + "/v1/accounts", json=CUSTOMER, timeout=30)
    assert opened.status_code == 201, opened.text
    first = httpx.post(
        gateway + "/v1/auth/login",
        json={"login_id": CUSTOMER["email"], "password": CUSTOMER["password"], "device_id": "dev-e2e-trace"},
        timeout=30,
    )
    assert first.status_code == 401, first.text
    sent = httpx.post(
        gateway + f"/v1/auth/challenges/{first.json()['challenge']['id']}/send",
        json={"method": "sms"},
        # The caller's own trace context: the gateway starts a trace of its own all the same.
        headers={"X-Request-ID": "e2e-trace-send", "traceparent": OUTSIDE_TRACEPARENT},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text

    def at_the_edge() -> list[ReceivedSpan]:
        return [
            s
            for s in receiver.received()
            if (s.service, s.kind, s.attributes.get("sekisho.request_id")) == ("gateway", "server", "e2e-trace-send")
        ]

    deadline = time.monotonic() + 60
    while not at_the_edge():
        assert time.monotonic() < deadline, "the gateway's span never arrived"
        time.sleep(0.1)
    edge = one(at_the_edge(), name="POST /v1/auth/challenges/{challenge_id}/send")
    assert edge.parent_id is None
    assert edge.trace_id != OUTSIDE_TRACE
    assert edge.links == ((OUTSIDE_TRACE, OUTSIDE_TRACEPARENT.split("-")[2]),)
    # The relay's spans come last: auth's outbox sends the code to notify after the request has been answered.
    trace = wait_for(receiver, edge.trace_id, "auth client POST notify", "notify server POST /internal/notifications")
    forward = one(trace, parent_id=edge.span_id, service="gateway", kind="client")
    at_auth = one(trace, parent_id=forward.span_id, service="auth", kind="server")
    assert at_auth.attributes["sekisho.request_id"] == "e2e-trace-send"
    relayed = one(trace, parent_id=at_auth.span_id, service="auth", kind="client", name="POST notify")
    at_notify = one(trace, parent_id=relayed.span_id, service="notify", kind="server")
    assert (at_notify.attributes["sekisho.caller"], at_notify.attributes["http.response.status_code"]) == ("auth", 201)
    assert all(span.trace_id != OUTSIDE_TRACE for span in receiver.received())
