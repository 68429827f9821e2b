"""Fixtures of the ops console's browser tests: Debian's Chromium (one for the module), the in-process system's
gateway on a real port (tests/browser/gateway_relay.py, so that the page, its modules and their Content-Security-Policy
come from the gateway exactly as staff get them), and a fresh browser context for each test. The clock stands still at
the real time the system started (TOTP codes are computed for it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import SIGNING_KEY
from tests.browser.chromium import Chromium
from tests.browser.gateway_relay import GatewayRelay
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import KYC
from tests.ops_console.console_tab import Console


@pytest.fixture(scope="module")
def relay() -> Iterator[GatewayRelay]:
    server = GatewayRelay().start()
    yield server
    server.stop()


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, relay: GatewayRelay) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        relay.relay_to(running.gateway)
        yield running


@pytest.fixture
async def console(chromium: Chromium, relay: GatewayRelay, system: System) -> AsyncIterator[Console]:
    tab = await chromium.run(chromium.new_tab)
    opened = Console(tab, relay.origin)
    yield opened
    await chromium.run(tab.close)
    assert opened.faults == []
