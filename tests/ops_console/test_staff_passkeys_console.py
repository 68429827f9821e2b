"""A staff passkey for real: in headless Chromium with its virtual authenticator (CDP), a staff member signed in with
password and TOTP registers a passkey on the console's "my passkeys" page, logs out, and signs in again with the
password and the passkey instead of a code. The console's origin is the one auth accepts for WebAuthn here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import SIGNING_KEY
from tests.auth.test_passkeys_browser import claims_of
from tests.browser.chromium import Chromium
from tests.browser.gateway_relay import GatewayRelay
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import KYC
from tests.ops_console.console_tab import Console, bearer, signed_in, staff_member


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, relay: GatewayRelay) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY, "webauthn_rp_id": "localhost", "webauthn_origins": [relay.origin]},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        relay.relay_to(running.gateway)
        yield running


def _register(console: Console) -> list[str]:
    page = console.page
    console.go("passkeys")
    page.wait_for_selector("#passkey-form")
    page.wait_for_selector("#passkey-list .message")  # 登録済みのパスキーはありません
    page.fill("#passkey-form input[name=passkey_name]", "会社のPC")
    page.click("#passkey-form button[type=submit]")
    page.wait_for_selector("#passkey-list tr[data-passkey]")
    console.screenshot("staff-passkey-registered")
    names: list[str] = page.eval_on_selector_all(
        "#passkey-list tr[data-passkey] td:first-child", "cells => cells.map((c) => c.textContent)"
    )
    return names


def _sign_out_and_in_with_the_passkey(console: Console, member: dict[str, str]) -> str:
    page = console.page
    page.click("#logout")
    page.wait_for_selector("#login-form")
    page.fill("#login-form input[name=login_id]", member["login_id"])
    page.fill("#login-form input[name=password]", member["password"])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#totp-form #passkey-sign-in")
    console.screenshot("staff-passkey-offered")
    page.click("#passkey-sign-in")
    page.wait_for_selector("#nav:not([hidden])")
    return console.access_token()


async def test_a_staff_member_registers_a_passkey_in_the_console_and_signs_in_with_it(
    system: System, chromium: Chromium, console: Console
) -> None:
    member = await staff_member(system, "analyst.passkey", "analyst")
    await signed_in(chromium, console, member)
    assert await chromium.run(_register, console) == ["会社のPC"]
    assert len(await chromium.run(console.tab.credentials)) == 1  # the virtual authenticator holds it

    token = await chromium.run(_sign_out_and_in_with_the_passkey, console, member)
    methods = {(f["method"], f["class"]) for f in claims_of(token)["amr"]}
    assert ("pwd", "knowledge") in methods
    assert methods & {("hwk", "possession"), ("swk", "possession")}
    assert ("totp", "possession") not in methods  # no code was typed this time
    listed = await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert [(p["name"], p["last_used_at"] is not None) for p in listed.json()] == [("会社のPC", True)]
