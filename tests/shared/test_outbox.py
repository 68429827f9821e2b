"""The outbox: a notification leaves only with the transaction that caused it, and it always arrives."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.auth import models as auth_models
from shared.clock import FrozenClock
from shared.contracts.notifications import EventType, PasswordChangedData
from shared.notifications import NotificationContractWarning, send_notification
from shared.service import ServiceState
from tests.harness import Backend, migrate, running
from tests.notify.samples import SAMPLES
from tests.servers import SmtpSink, eventually, eventually_async


class Switchable(httpx.AsyncBaseTransport):
    """notify behind a switch: while down, every call fails to connect, as a stopped process would."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app, raise_app_exceptions=False)
        self.down = False
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            raise httpx.ConnectError("notify is down", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def auth_and_notify(
    backend: Backend, smtp: SmtpSink
) -> AsyncIterator[tuple[ServiceState, Switchable, FrozenClock]]:
    from services.auth.app import create_app as auth_app
    from services.notify.app import create_app as notify_app

    for service in ("auth", "notify"):
        await migrate(backend, service)
    clock = FrozenClock(datetime.now(UTC))
    notify = notify_app(
        backend.settings("notify", smtp_host="127.0.0.1", smtp_port=smtp.port, delivery_poll_seconds=0.05),  # type: ignore[arg-type]
        clock=clock,
    )
    switch = Switchable(notify)
    auth = auth_app(backend.settings("auth", internal_retries=0), clock=clock, transports={"notify": switch})  # type: ignore[arg-type]
    async with running(notify), running(auth):
        yield auth.state.service, switch, clock


async def queue(state: ServiceState, key: str, email: str, *, fail: bool = False) -> None:
    assert state.outbox is not None
    with pytest.raises(RuntimeError) if fail else contextlib.nullcontext():
        async with state.database.transaction() as session:
            await send_notification(
                state.outbox, session, key=key, event_type=EventType.PASSWORD_CHANGED, data=SAMPLES_PW, email=email
            )
            if fail:
                raise RuntimeError("the change that caused the notice failed")


SAMPLES_PW = PasswordChangedData(**SAMPLES[EventType.PASSWORD_CHANGED])


async def _rejected(state: ServiceState) -> bool:
    return all(row.rejected_at is not None for row in await outbox_rows(state))


async def outbox_rows(state: ServiceState) -> list[Any]:
    async with state.database.transaction() as session:
        return list((await session.execute(select(auth_models.outbox))).all())


@pytest.mark.req("AUTH-ATTR-2")
async def test_a_committed_notice_is_relayed_to_notify_and_arrives_by_email(
    auth_and_notify: tuple[ServiceState, Switchable, FrozenClock], smtp: SmtpSink
) -> None:
    state, _, _ = auth_and_notify
    await queue(state, "auth:pw:1:0001", "hanako@example.jp")
    await eventually(lambda: len(smtp.to("hanako@example.jp")) == 1)
    (row,) = await outbox_rows(state)
    assert row.delivered_at is not None
    assert "hanako" not in row.payload  # sealed at rest


async def test_a_rolled_back_change_sends_nothing(
    auth_and_notify: tuple[ServiceState, Switchable, FrozenClock], smtp: SmtpSink
) -> None:
    state, switch, _ = auth_and_notify
    await queue(state, "auth:pw:2:0001", "ghost@example.jp", fail=True)
    assert state.outbox is not None
    assert await state.outbox.relay_due() == 0
    assert await outbox_rows(state) == []
    assert switch.calls == 0
    assert smtp.to("ghost@example.jp") == []


async def test_while_notify_is_down_the_notice_waits_and_arrives_when_it_is_back(
    auth_and_notify: tuple[ServiceState, Switchable, FrozenClock], smtp: SmtpSink
) -> None:
    state, switch, clock = auth_and_notify
    switch.down = True
    await queue(state, "auth:pw:3:0001", "taro@example.jp")
    await eventually(lambda: switch.calls >= 1)
    assert state.outbox is not None
    clock.advance(seconds=1)
    await state.outbox.relay_due()
    (row,) = await outbox_rows(state)
    assert row.delivered_at is None
    assert row.attempts >= 1
    assert "notify service cannot be reached" in row.last_error
    switch.down = False
    clock.advance(minutes=10)
    await state.outbox.relay_due()
    await eventually(lambda: len(smtp.to("taro@example.jp")) == 1)
    (row,) = await outbox_rows(state)
    assert row.delivered_at is not None


async def test_a_notice_notify_refuses_for_good_is_kept_as_rejected_not_retried(
    auth_and_notify: tuple[ServiceState, Switchable, FrozenClock],
) -> None:
    state, switch, clock = auth_and_notify
    assert state.outbox is not None
    # A producer's bug the contract check names (a warning, an error under pytest) but still queues: the notice
    # reaches notify, which refuses it, and it stays in the outbox for staff instead of failing the change.
    wrong = PasswordChangedData.model_construct(at=datetime(2026, 11, 23, 5, 30))  # naive: notify refuses it
    with pytest.warns(NotificationContractWarning, match="data.at"):
        async with state.database.transaction() as session:
            await send_notification(
                state.outbox, session, key="auth:bad:0001", event_type=EventType.PASSWORD_CHANGED, data=wrong,
                email="x@example.jp",
            )  # fmt: skip
    await eventually_async(partial(_rejected, state))
    clock.advance(minutes=10)
    assert await state.outbox.relay_due() == 0
    (row,) = await outbox_rows(state)
    assert row.rejected_at is not None
    assert "HTTP 422" in row.last_error
    assert switch.calls == 1
