"""Issue 13 item 8: rotating the data key must not change any blind index, so every customer still logs in.

Before, the blind-index key (the keyed digest auth looks e-mail addresses and phone numbers up by) was derived from
whichever data key came first in SEKISHO_DATA_KEYS: putting a new key first, as a rotation does, changed every
index, no e-mail was found again, and every login answered invalid_credentials. Now blind indexes have a key of
their own (SEKISHO_BLIND_INDEX_KEY), which a data-key rotation leaves alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import models
from shared.clock import FrozenClock
from shared.crypto import new_key_spec
from shared.settings import SERVICE_NAMES
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login, login
from tests.harness import TEST_DATA_KEYS, Backend, System, in_process_system

NEW_DATA_KEY = new_key_spec("k2")


def overrides(smtp: SmtpSink, sms: SmsSink, data_keys: str) -> dict[str, dict[str, Any]]:
    every = {service: {"data_keys": data_keys} for service in SERVICE_NAMES}
    every["auth"]["auth_signing_key"] = SIGNING_KEY
    every["notify"].update(smtp_host="127.0.0.1", smtp_port=smtp.port, sms_url=sms.url, delivery_poll_seconds=0.05)
    return every


async def customers(system: System) -> int:
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(models.customer))).scalar_one())


async def sealed_email(system: System, email_of: str) -> str:
    """The stored (sealed) e-mail of the customer whose id is `email_of`."""
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        row = (await session.execute(select(models.customer.c.email).where(models.customer.c.id == email_of))).one()
    return str(row.email)


async def test_a_new_data_key_put_first_keeps_every_login_and_old_data_opens(
    backend: Backend, smtp: SmtpSink, sms: SmsSink
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with in_process_system(backend, overrides(smtp, sms, TEST_DATA_KEYS), clock=clock) as system:
        customer_id = await open_account(system.gateway)
        before = await login(system.gateway)
        assert (before.status_code, before.json()["code"]) == (401, "mfa_required")
        assert (await sealed_email(system, customer_id)).startswith("v1.t1.")
    # The rotation: a new data key first (it seals from now on), the old one after it (it still opens).
    rotated = f"{NEW_DATA_KEY},{TEST_DATA_KEYS}"
    async with in_process_system(backend, overrides(smtp, sms, rotated), clock=clock) as system:
        after = await login(system.gateway)
        assert (after.status_code, after.json()["code"]) == (401, "mfa_required")  # not invalid_credentials
        tokens = await full_login(system, sms)
        me = await system.gateway.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == CUSTOMER["email"]  # sealed with the old key, opened after the rotation
        # The e-mail still identifies its owner: opening another account with it creates none.
        await system.gateway.post("/v1/accounts", json=CUSTOMER)
        assert await customers(system) == 1
        newcomer = await open_account(
            system.gateway, email="taro.yamada@example.jp", phone="+819087654321", password="Kaede-Yuzu-73!"
        )
        assert (await sealed_email(system, newcomer)).startswith("v1.k2.")  # new data is sealed with the new key
        assert (await sealed_email(system, customer_id)).startswith("v1.t1.")
        newcomers = await login(system.gateway, login_id="taro.yamada@example.jp", password="Kaede-Yuzu-73!")
        assert (newcomers.status_code, newcomers.json()["code"]) == (401, "mfa_required")
