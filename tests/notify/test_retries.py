"""Nothing is lost: failed sends are retried with backoff, then kept as dead; an SMTP outage only delays mail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial

import httpx
import pytest

from services.notify.channels import DELIVERY_HEADER
from shared.contracts.notifications import EventType
from tests.harness import Backend
from tests.notify.conftest import identity_for, notify_client, staff
from tests.notify.test_delivery import request_for
from tests.servers import SmsSink, SmtpSink, eventually_async


async def counts(notify: httpx.AsyncClient) -> dict[str, int]:
    response = await notify.get("/internal/deliveries/counts", headers=identity_for("gateway"))
    assert response.status_code == 200
    counted: dict[str, int] = response.json()
    return counted


async def test_a_delivery_that_keeps_failing_ends_dead_with_its_whole_history(backend: Backend) -> None:
    unused = SmtpSink()  # a port nobody listens on
    async for notify in notify_client(backend, smtp_host="127.0.0.1", smtp_port=unused.port, delivery_max_attempts=3):
        response = await notify.post(
            "/internal/notifications", json=request_for(EventType.PASSWORD_CHANGED, to={"email": "a@example.jp"})
        )
        notification_id = response.json()["id"]
        await eventually_async(partial(_status_is, notify, notification_id, "dead"), within=15)
        detail = (await notify.get(f"/internal/notifications/{notification_id}", headers=staff())).json()
        (delivery,) = detail["deliveries"]
        assert delivery["attempts"] == 3
        assert [h["outcome"] for h in delivery["history"]] == ["failed", "failed", "dead"]
        assert "SMTP" in delivery["last_error"]
        assert (await notify.get("/internal/notifications", params={"status": "dead"}, headers=staff())).json()[0][
            "id"
        ] == notification_id


async def _status_is(notify: httpx.AsyncClient, notification_id: str, status: str) -> bool:
    detail = (await notify.get(f"/internal/notifications/{notification_id}", headers=staff())).json()
    return all(d["status"] == status for d in detail["deliveries"])


async def test_an_sms_the_provider_refuses_for_good_is_dead_at_once(backend: Backend) -> None:
    provider = SmsSink(fail_with=400).start()
    try:
        async for notify in notify_client(backend, sms_url=provider.url):
            body = request_for(EventType.ONE_TIME_CODE)
            notification_id = (await notify.post("/internal/notifications", json=body)).json()["id"]
            await eventually_async(partial(_status_is, notify, notification_id, "dead"), within=10)
            detail = (await notify.get(f"/internal/notifications/{notification_id}", headers=staff())).json()
            assert detail["deliveries"][0]["attempts"] == 1
            assert "HTTP 400" in detail["deliveries"][0]["last_error"]
    finally:
        provider.stop()


@pytest.mark.fault
async def test_with_smtp_down_500_notifications_wait_and_all_arrive_once_it_is_back(
    backend: Backend, report_figure: Callable[[str], None]
) -> None:
    smtp = SmtpSink()  # not started yet: the mail server is down
    async for notify in notify_client(
        backend, smtp_host="127.0.0.1", smtp_port=smtp.port, delivery_max_attempts=100, delivery_concurrency=20
    ):
        for i in range(500):
            body = request_for(EventType.PASSWORD_CHANGED, key=f"outage:{i:04d}", to={"email": f"c{i}@example.jp"})
            assert (await notify.post("/internal/notifications", json=body)).status_code == 201
        # The channel fails, then rests: nothing is sent, nothing dies, everything waits.
        await eventually_async(partial(_some_failed, notify), within=30)
        during = await counts(notify)
        assert during.get("queued", 0) + during.get("failed", 0) == 500
        smtp.start()
        try:
            await eventually_async(partial(_all_in, notify, "sent", 500), within=60)
            received = Counter(message[DELIVERY_HEADER] for message in smtp.messages)
        finally:
            smtp.stop()
    assert len(received) == 500
    assert {message["To"] for message in smtp.messages} == {f"c{i}@example.jp" for i in range(500)}
    report_figure(
        f"SMTP outage: 500 queued, {len(received)} arrived, {sum(received.values()) - len(received)} duplicates"
    )


async def _some_failed(notify: httpx.AsyncClient) -> bool:
    return (await counts(notify)).get("failed", 0) > 0


async def _all_in(notify: httpx.AsyncClient, status: str, expected: int) -> bool:
    return (await counts(notify)).get(status, 0) == expected
