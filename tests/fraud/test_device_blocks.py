"""Infected customer devices (SEC-3) through the gateway: staff deny-list a phone as infected, or the app reports its
own device compromised; the customer is warned by e-mail and SMS once, the device's sessions stop working, and no
login from it gets through, while the customer's other devices still can sign in."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import device_blocks as auth_device_blocks
from services.auth import models as auth_models
from services.fraud.device_digests import device_digest
from tests.auth.conftest import CUSTOMER
from tests.auth.test_api_login import DEVICE, login
from tests.fraud.test_ops_api import staff
from tests.gateway.test_step_up import fraud
from tests.gateway.test_step_up import system as switched_system
from tests.harness import System
from tests.servers import eventually, eventually_async
from tests.txn.atm_network import e164
from tests.txn.conftest import Customer, signed_in_customer

DEVICES = "/v1/ops/fraud/lists/devices/entries"
# The whole system with fraud's score, as the gateway sees it, switchable off (fraud(system).down): a blocked device
# must stay blocked when the gateway logs customers in without a score.
system = switched_system
INFECTED = {"ja": "ウイルス", "en": "malware"}


def warnings_to(smtp: SmtpSink, sms: SmsSink, customer: Customer) -> tuple[list[str], list[str]]:
    mails = [str(m["Subject"]) for m in smtp.to(customer.email) if INFECTED["ja"] in str(m["Subject"])]
    texts = [t.body for t in sms.received if t.to == e164(customer.phone) and INFECTED["ja"] in t.body]
    return mails, texts


async def session_stopped(system: System, headers: dict[str, str]) -> bool:
    """Whether the gateway refuses the session now; the clock moves past the gateway's few seconds of belief in a
    live session first (services/gateway/bearer.py), as a real minute would."""
    system.clock.advance(6)  # type: ignore[attr-defined]
    answer = await system.gateway.get("/v1/me", headers=headers)
    return answer.status_code == 401


async def device_seen_by_fraud(system: System, customer: Customer, analyst: dict[str, str]) -> None:
    async def seen() -> bool:
        found = await system.gateway.get(
            "/v1/ops/fraud/events", params={"customer_id": customer.customer_id}, headers=analyst
        )
        return any(event["device_digest"] == device_digest(DEVICE) for event in found.json()["events"])

    await eventually_async(seen)


async def infected_notices_queued(system: System, customer_id: str) -> int:
    o = auth_models.outbox
    async with system.apps["auth"].state.service.database.transaction() as session:
        counted = await session.execute(
            select(func.count()).where(o.c.idempotency_key.like(f"auth:device-infected:{customer_id}:%"))
        )
        return int(counted.scalar_one())


@pytest.mark.req("SEC-3")
async def test_a_device_staff_find_infected_is_warned_about_cut_off_and_cannot_log_in(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    customer = await signed_in_customer(system, sms)  # signed in on DEVICE with password and SMS
    _, analyst = await staff(system, "sec3.kudo", "analyst")
    _, supervisor = await staff(system, "sec3.sano", "supervisor")
    await device_seen_by_fraud(system, customer, analyst)
    assert (await system.gateway.get("/v1/me", headers=customer.headers)).status_code == 200

    blocked = await system.gateway.put(
        DEVICES,
        json={"value": device_digest(DEVICE), "note": "banking trojan seen on this phone", "reason": "malware"},
        headers=supervisor,
    )
    assert blocked.status_code == 200, blocked.text
    assert (blocked.json()["reason"], blocked.json()["value"]) == ("malware", device_digest(DEVICE))

    # Warned: by e-mail and by SMS, in the customer's language, saying what to do.
    await eventually(lambda: all(warnings_to(smtp, sms, customer)))
    (mail,) = [m for m in smtp.to(customer.email) if INFECTED["ja"] in str(m["Subject"])]
    body = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "パスワードを変更" in body
    assert "sekisho-app/1.0 (iPhone)" in body
    # Access from the device stops: its session no longer works.
    await eventually_async(lambda: session_stopped(system, customer.headers))
    # Login from the device is refused with a code that says why, before any code is sent.
    refused = await login(system.gateway, login_id=customer.email)
    assert (refused.status_code, refused.json()["code"]) == (403, "device_blocked")
    assert "challenge" not in refused.json()
    # The customer's other phone still signs in (with its second factor): only the device is blocked.
    other = await login(system.gateway, login_id=customer.email, device="device-pixel-0002")
    assert (other.status_code, other.json()["code"]) == (401, "mfa_required")

    # auth refuses it too, should fraud not answer the gateway (a login then goes ahead unscored); only to whoever
    # knows the password, like every answer past it.
    fraud(system).down = True
    assert (await login(system.gateway, login_id=customer.email)).json()["code"] == "device_blocked"
    wrong = await login(system.gateway, login_id=customer.email, password="Not-The-Password-9!")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    fraud(system).down = False
    assert await passkey_login_refused(system, customer)  # the passkey login asks the same block

    # Once per device: putting the entry again asks auth again, but the customer is not warned twice.
    again = await system.gateway.put(
        DEVICES, json={"value": DEVICE, "note": "still infected", "reason": "malware"}, headers=supervisor
    )
    assert again.status_code == 200, again.text

    async def both_applied() -> bool:
        return await _applied(system, customer.customer_id, analyst) >= 2

    await eventually_async(both_applied)
    assert await infected_notices_queued(system, customer.customer_id) == 1
    assert [len(found) for found in warnings_to(smtp, sms, customer)] == [1, 1]

    # Staff lift the block: the device signs in again, with its second factor (it is trusted no more).
    lifted = await system.gateway.delete(DEVICES, params={"value": DEVICE}, headers=supervisor)
    assert lifted.status_code == 200, lifted.text

    async def signs_in_again() -> bool:
        fraud(system).down = True  # auth's own block too
        answer = await login(system.gateway, login_id=customer.email)
        fraud(system).down = False
        return answer.status_code == 401 and answer.json()["code"] == "mfa_required"

    await eventually_async(signs_in_again)
    assert not await passkey_login_refused(system, customer)
    assert (await login(system.gateway, login_id=customer.email)).json()["code"] == "mfa_required"


async def passkey_login_refused(system: System, customer: Customer) -> bool:
    """What the passkey login asks before it signs a customer in on a device (services/auth/passkeys_api.py): a
    real assertion needs an authenticator, which the browser tests have."""
    async with system.apps["auth"].state.service.database.transaction() as session:
        return await auth_device_blocks.is_blocked(
            session, customer.customer_id, device_key=DEVICE, now=system.clock.now()
        )


async def _applied(system: System, customer_id: str, analyst: dict[str, str]) -> int:
    """auth's fraud_action_applied events for this customer's device blocks, as fraud received them."""
    found = await system.gateway.get(
        "/v1/ops/fraud/events", params={"customer_id": customer_id, "type": "fraud_action_applied"}, headers=analyst
    )
    return sum(1 for event in found.json()["events"] if event["data"].get("action") == "block_device")


async def test_the_app_reporting_its_device_compromised_stops_the_login_and_the_device_for_good(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    customer = await signed_in_customer(system, sms)
    _, analyst = await staff(system, "sec3.abe", "analyst")
    _, supervisor = await staff(system, "sec3.mori", "supervisor")
    await device_seen_by_fraud(system, customer, analyst)

    async def report(password: str) -> Any:
        return await system.gateway.post(
            "/v1/auth/login",
            json={
                "login_id": customer.email,
                "password": password,
                "device_id": DEVICE,
                "device_integrity": "compromised",
            },
            headers={"User-Agent": "sekisho-app/1.0 (iPhone)"},
        )

    # A stranger without the password cannot make the company warn the customer or block their phone.
    stranger = await report("Wrong-Password-1!")
    assert stranger.status_code == 401
    assert await infected_notices_queued(system, customer.customer_id) == 0
    assert (await system.gateway.get("/v1/me", headers=customer.headers)).status_code == 200

    reported = await report(CUSTOMER["password"])
    assert (reported.status_code, reported.json()["code"]) == (403, "device_blocked")
    assert "access_token" not in reported.text
    await eventually(lambda: all(warnings_to(smtp, sms, customer)))
    await eventually_async(lambda: session_stopped(system, customer.headers))

    # fraud deny-lists the device as infected: its next login is refused whatever the app says.
    async def listed() -> bool:
        entries = (await system.gateway.get(DEVICES, headers=supervisor)).json()["entries"]
        return any(e["value"] == device_digest(DEVICE) and e["reason"] == "malware" for e in entries)

    await eventually_async(listed)
    again = await login(system.gateway, login_id=customer.email)
    assert (again.status_code, again.json()["code"]) == (403, "device_blocked")
    assert await infected_notices_queued(system, customer.customer_id) == 1


async def test_only_a_supervisor_blocks_a_device_and_a_reason_fits_only_a_device_denial(system: System) -> None:
    _, analyst = await staff(system, "sec3.ito", "analyst")
    _, supervisor = await staff(system, "sec3.ueda", "supervisor")
    body = {"value": "device-anything-1", "note": "x", "reason": "malware"}
    as_analyst = await system.gateway.put(DEVICES, json=body, headers=analyst)
    assert as_analyst.status_code == 403
    for path, changed in (
        ("/v1/ops/fraud/lists/ips/entries", {"value": "203.0.113.0/24"}),
        (DEVICES, {"kind": "allow"}),
        (DEVICES, {"reason": "virus"}),
    ):
        refused = await system.gateway.put(path, json={**body, **changed}, headers=supervisor)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed"), refused.text
    for name in ("ips", "devices"):
        listed = await system.gateway.get(
            f"/v1/ops/fraud/lists/{name}/entries", params={"include_removed": "true"}, headers=supervisor
        )
        assert listed.json()["entries"] == []
