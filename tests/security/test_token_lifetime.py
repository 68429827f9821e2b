"""Issue 13 item 10: an access token signed with auth's own key but claiming a life far beyond the configured one
(exp in year 3000) is refused at the gateway, as is one issued in the future."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.tokens import load_private_key
from tests.auth.conftest import open_account
from tests.auth.test_api_login import full_login
from tests.harness import Backend, System, in_process_system, signing_key_for_tests

YEAR_3000 = int(datetime(3000, 1, 1, tzinfo=UTC).timestamp())


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides = {
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


def _minted(genuine: str, **changes: Any) -> str:
    """The genuine token's claims (a real, live session) with `changes`, signed with auth's signing key."""
    claims = {**jwt.decode(genuine, options={"verify_signature": False}), **changes}
    kid = jwt.get_unverified_header(genuine)["kid"]
    return jwt.encode(claims, load_private_key(signing_key_for_tests()), algorithm="EdDSA", headers={"kid": kid})


async def test_a_token_valid_until_the_year_3000_is_refused(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    genuine = str(tokens["access_token"])
    now = int(system.clock.timestamp())

    same = _minted(genuine)  # re-signed unchanged: the minting itself is believed
    assert (await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {same}"})).status_code == 200

    forever = _minted(genuine, iat=now, exp=YEAR_3000)
    refused = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {forever}"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "unauthorized"
    assert refused.json()["reason"] == "lifetime"

    # Backdating iat to hide the length does not help: the token is then simply expired or too long.
    backdated = _minted(genuine, iat=YEAR_3000 - 300, exp=YEAR_3000)
    assert (await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {backdated}"})).status_code == 401
    later = system.clock.timestamp() + 3600
    future = _minted(genuine, iat=int(later), exp=int(later) + 300)
    assert (await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {future}"})).status_code == 401
