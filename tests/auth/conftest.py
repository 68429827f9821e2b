"""The whole system in-process, reached through the gateway, with real SMTP and SMS stand-ins behind notify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.tokens import new_signing_key
from tests.harness import Backend, System, in_process_system

SIGNING_KEY, PUBLIC_KEY = new_signing_key()

CUSTOMER: dict[str, Any] = {
    "email": "hanako.sato@example.jp",
    "phone": "090-1234-5678",
    "name": "佐藤 花子",
    "name_kana": "サトウ ハナコ",
    "birth_date": "1990-04-12",
    "address": "東京都港区六本木1-2-3",
    "password": "Kiso-Mikan-42!",
}


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


async def open_account(gateway: httpx.AsyncClient, **changes: Any) -> str:
    response = await gateway.post("/v1/accounts", json={**CUSTOMER, **changes})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id
