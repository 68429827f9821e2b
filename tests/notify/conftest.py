"""A running notify service wired to a real SMTP server and a real HTTP SMS provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.notify.app import create_app
from shared.clock import SystemClock
from shared.middleware import IDENTITY_HEADER
from tests.harness import Backend, client_for, identity_issuer, migrate, running
from tests.servers import SmsSink, SmtpSink

FAST_RETRIES: dict[str, Any] = {
    "delivery_retry_base_seconds": 0.05,
    "delivery_retry_max_seconds": 0.4,
    "delivery_poll_seconds": 0.05,
}


def staff(role: str = "analyst") -> dict[str, str]:
    """The identity the gateway gives a signed-in staff member's call (reading delivery status is staff's)."""
    context = {"subject": "stf_test", "subject_type": "staff", "role": role}
    issuer = identity_issuer("gateway", SystemClock())
    return {IDENTITY_HEADER: issuer.issue("notify", context)}


def identity_for(caller: str = "auth") -> dict[str, str]:
    return {IDENTITY_HEADER: identity_issuer(caller, SystemClock()).issue("notify")}


async def notify_client(backend: Backend, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(backend, "notify")
    app = create_app(backend.settings("notify", **{**FAST_RETRIES, **overrides}))  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        client.headers.update(identity_for())
        yield client


@pytest.fixture
async def notify(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[httpx.AsyncClient]:
    async for client in notify_client(backend, smtp_host="127.0.0.1", smtp_port=smtp.port, sms_url=sms.url):
        yield client
