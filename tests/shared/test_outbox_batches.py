"""Events leave in batches: many transactions' events reach fraud in a few requests, each judged on its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.auth import models as auth_models
from services.fraud import models as fraud_models
from shared.clock import FrozenClock
from shared.events import EVENTS_BATCH_PATH, EVENTS_PATH, record_event
from shared.service import ServiceState
from tests.harness import Backend, migrate, running
from tests.servers import eventually_async


class Recording(httpx.AsyncBaseTransport):
    """fraud behind a transport that counts requests per path; `missing` paths answer 404 as an older fraud would."""

    def __init__(self, app: FastAPI, missing: frozenset[str] = frozenset()) -> None:
        self.inner = httpx.ASGITransport(app, raise_app_exceptions=False)
        self.missing = missing
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        if request.url.path in self.missing:
            return httpx.Response(404, json={"code": "not_found"})
        return await self.inner.handle_async_request(request)


async def _system(
    backend: Backend, missing: frozenset[str]
) -> AsyncIterator[tuple[ServiceState, ServiceState, Recording]]:
    from services.auth.app import create_app as auth_app
    from services.fraud.app import create_app as fraud_app

    for service in ("auth", "fraud"):
        await migrate(backend, service)
    clock = FrozenClock(datetime.now(UTC))
    fraud = fraud_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    transport = Recording(fraud, missing)
    auth = auth_app(backend.settings("auth", internal_retries=0), clock=clock, transports={"fraud": transport})  # type: ignore[arg-type]
    async with running(fraud), running(auth):
        yield auth.state.service, fraud.state.service, transport


@pytest.fixture
async def auth_and_fraud(backend: Backend) -> AsyncIterator[tuple[ServiceState, ServiceState, Recording]]:
    async for system in _system(backend, frozenset()):
        yield system


@pytest.fixture
async def auth_and_old_fraud(backend: Backend) -> AsyncIterator[tuple[ServiceState, ServiceState, Recording]]:
    async for system in _system(backend, frozenset({EVENTS_BATCH_PATH})):
        yield system


async def _record(state: ServiceState, n: int, **fields: Any) -> list[str]:
    assert state.outbox is not None
    ids = []
    for i in range(n):
        async with state.database.transaction() as session:  # one transaction each, as logins would
            ids.append(
                await record_event(
                    state.outbox, session, type="login_succeeded", occurred_at=state.clock.now(),
                    customer_id=f"cus_{i}", ip="203.0.113.9", **fields,
                )
            )  # fmt: skip
    return ids


async def _stored(fraud: ServiceState) -> set[str]:
    async with fraud.database.transaction() as session:
        return set((await session.execute(select(fraud_models.event.c.id))).scalars())


async def _outbox(state: ServiceState) -> list[Any]:
    async with state.database.transaction() as session:
        return list((await session.execute(select(auth_models.outbox))).all())


async def _settled(state: ServiceState) -> bool:
    return all(row.delivered_at is not None or row.rejected_at is not None for row in await _outbox(state))


async def test_events_of_many_transactions_reach_fraud_in_a_few_batch_requests(
    auth_and_fraud: tuple[ServiceState, ServiceState, Recording],
) -> None:
    auth, fraud, transport = auth_and_fraud
    ids = await _record(auth, 30)
    await eventually_async(lambda: _settled(auth))
    assert await _stored(fraud) == set(ids)
    assert transport.paths[EVENTS_PATH] == 0
    assert 1 <= transport.paths[EVENTS_BATCH_PATH] <= 3  # 30 commits within the batch delay: one or two rounds
    assert all(row.attempts == 1 and row.last_error is None for row in await _outbox(auth))


async def test_one_malformed_event_in_a_batch_is_kept_as_rejected_and_the_others_arrive(
    auth_and_fraud: tuple[ServiceState, ServiceState, Recording],
) -> None:
    auth, fraud, _ = auth_and_fraud
    good = await _record(auth, 3)
    bad = await _record(auth, 1, outcome="x" * 41)  # over fraud's 40-character limit
    await eventually_async(lambda: _settled(auth))
    assert await _stored(fraud) == set(good)
    rows = {row.idempotency_key: row for row in await _outbox(auth)}
    assert rows[bad[0]].rejected_at is not None
    assert rows[bad[0]].delivered_at is None
    assert "HTTP 422" in rows[bad[0]].last_error
    assert "outcome" in rows[bad[0]].last_error
    assert all(rows[key].delivered_at is not None for key in good)


async def test_a_fraud_without_the_batch_route_gets_the_events_one_by_one(
    auth_and_old_fraud: tuple[ServiceState, ServiceState, Recording],
) -> None:
    auth, fraud, transport = auth_and_old_fraud
    ids = await _record(auth, 5)
    await eventually_async(lambda: _settled(auth))
    assert await _stored(fraud) == set(ids)
    assert transport.paths[EVENTS_PATH] == 5
    assert transport.paths[EVENTS_BATCH_PATH] >= 1
