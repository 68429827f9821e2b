"""fraud stores every event once, append-only, however often the outbox redelivers it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from services.fraud.app import create_app
from services.fraud.models import event
from shared.clock import FrozenClock
from shared.middleware import IDENTITY_HEADER
from tests.harness import Backend, client_for, identity_issuer, migrate, running

EVENT = {
    "event_id": "evt_01jtest0000000000000000001",
    "type": "login_failed",
    "occurred_at": "2026-11-23T05:30:00+00:00",
    "customer_id": "cus_1",
    "ip": "203.0.113.7",
    "outcome": "wrong_password",
    "data": {"known_device": False},
}


@pytest.fixture
async def fraud(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(backend, "fraud")
    clock = FrozenClock()
    app = create_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        client.headers[IDENTITY_HEADER] = identity_issuer("auth", clock).issue("fraud")
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_an_event_is_stored_once_with_its_producer(fraud: httpx.AsyncClient) -> None:
    first = await fraud.post("/internal/events", json=EVENT)
    again = await fraud.post("/internal/events", json=EVENT)
    assert (first.status_code, again.status_code) == (201, 200)
    state = fraud.app.state.service  # type: ignore[attr-defined]
    async with state.database.transaction() as session:
        rows = (await session.execute(select(event))).all()
    assert [(row.id, row.producer, row.outcome) for row in rows] == [(EVENT["event_id"], "auth", "wrong_password")]


async def test_a_malformed_event_is_refused_with_every_violation(fraud: httpx.AsyncClient) -> None:
    response = await fraud.post("/internal/events", json={**EVENT, "occurred_at": "yesterday", "type": "Login Failed"})
    assert response.status_code == 422
    assert sorted(v["field"] for v in response.json()["violations"]) == ["occurred_at", "type"]


async def test_a_batch_stores_the_new_events_and_judges_each_message_alone(fraud: httpx.AsyncClient) -> None:
    await fraud.post("/internal/events", json=EVENT)
    fresh = {**EVENT, "event_id": "evt_01jtest0000000000000000002"}
    malformed = {**EVENT, "event_id": "evt_01jtest0000000000000000003", "type": "Not A Type"}
    mislabelled = {**EVENT, "event_id": "evt_01jtest0000000000000000004"}
    response = await fraud.post(
        "/internal/events/batch",
        json={
            "messages": [
                {"key": EVENT["event_id"], "body": EVENT},
                {"key": fresh["event_id"], "body": fresh},
                {"key": malformed["event_id"], "body": malformed},
                {"key": "evt_01jsomethingelse0000000000", "body": mislabelled},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 201, 422, 422]
    assert "type" in results[2]["detail"]
    state = fraud.app.state.service  # type: ignore[attr-defined]
    async with state.database.transaction() as session:
        ids = set((await session.execute(select(event.c.id))).scalars())
    assert ids == {EVENT["event_id"], fresh["event_id"]}


async def test_an_empty_or_oversized_batch_is_refused_whole(fraud: httpx.AsyncClient) -> None:
    empty = await fraud.post("/internal/events/batch", json={"messages": []})
    big = await fraud.post(
        "/internal/events/batch",
        json={"messages": [{"key": f"evt_{i:08d}", "body": {**EVENT, "event_id": f"evt_{i:08d}"}} for i in range(101)]},
    )
    assert (empty.status_code, big.status_code) == (422, 422)
