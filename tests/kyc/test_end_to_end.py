"""Each way of proving an identity, end to end through the gateway (KYC-1, KYC-2): an unverified customer is refused
`withdrawal`, `charge` and `bank_link` with `kyc_required`; the same customer, once a real kyc flow approves them
(eKYC decided by staff, the postal code entered, a JPKI signature), is not. kyc tells auth in the background
(status_sync.py): the tests wait for the relay, then ask the gateway again.

What matters here is the gateway's decision before forwarding the money routes to txn, with a real step-up grant for
each operation's body, as in tests/gateway/test_kyc_gate.py (txn's own checks are tests/txn's).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.kyc import models
from tests.auth.conftest import SIGNING_KEY, open_account
from tests.gateway.test_kyc_gate import MONEY, fresh_grant
from tests.gateway.test_step_up import Recorder, allowing_system
from tests.harness import Backend, System
from tests.kyc import jpki_ca
from tests.kyc.conftest import ADDRESS, KYC, ekyc_body, kyc_rows, signed_in_again, staff_headers, start
from tests.kyc.test_api_jpki import CARD_HOLDER
from tests.kyc.test_api_postal import mailed_code
from tests.servers import eventually_async


@pytest.fixture
def root() -> jpki_ca.Authority:
    return jpki_ca.root_ca()


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, root: jpki_ca.Authority) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": {**KYC, "jpki_trust_anchors": root.pem().decode()},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with allowing_system(backend, overrides) as running:
        yield running


class Customer:
    def __init__(self, customer_id: str, headers: dict[str, str], grants: dict[str, str]) -> None:
        self.customer_id = customer_id
        self.headers = headers
        self.grants = grants


async def unverified_customer(system: System, sms: SmsSink, **declared: str) -> Customer:
    """A new customer signed in with password and SMS, refused every money operation for want of KYC."""
    customer_id = await open_account(system.gateway, **declared)
    headers = await signed_in_again(system, sms)
    grants = {operation: await fresh_grant(system, sms, customer_id, operation) for operation in MONEY}
    for operation, (path, body) in MONEY.items():
        refused = await system.gateway.post(path, json=body, headers={**headers, "Step-Up-Grant": grants[operation]})
        assert (refused.status_code, refused.json()["code"]) == (403, "kyc_required"), (operation, refused.text)
    return Customer(customer_id, headers, grants)


async def money_moves_after_the_relay(system: System, customer: Customer, verification_id: str) -> None:
    """Once kyc's relay has told auth, the gateway lets each money operation through to txn (whatever txn answers:
    the recorder between them saw it)."""

    async def relayed() -> bool:
        rows = await kyc_rows(system, models.kyc_status_sync)
        return any(r.verification_id == verification_id and r.synced_at is not None for r in rows)

    await eventually_async(relayed)
    recorder: Recorder = system.txn  # type: ignore[attr-defined]
    for operation, (path, body) in MONEY.items():
        passed = await system.gateway.post(
            path, json=body, headers={**customer.headers, "Step-Up-Grant": customer.grants[operation]}
        )
        assert passed.json().get("code") != "kyc_required", (operation, passed.text)
        assert ("POST", path) in recorder.public


@pytest.mark.req("KYC-1")
@pytest.mark.req("KYC-2")
async def test_ekyc_approved_by_staff_lets_money_move(system: System, sms: SmsSink) -> None:
    customer = await unverified_customer(system, sms, address=ADDRESS)
    started = await start(system, customer.headers, ekyc_body())
    assert (started.status_code, started.json()["status"]) == (202, "manual_review"), started.text
    verification_id = started.json()["verification_id"]
    staff = await staff_headers(system, "reviewer.e2e", "analyst")
    approved = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{verification_id}/approve", json={"reason": "documents match"}, headers=staff
    )
    assert (approved.status_code, approved.json()["status"]) == (200, "approved"), approved.text
    await money_moves_after_the_relay(system, customer, verification_id)


@pytest.mark.req("KYC-1")
@pytest.mark.req("KYC-2")
async def test_postal_code_entered_lets_money_move(system: System, sms: SmsSink) -> None:
    customer = await unverified_customer(system, sms, address=ADDRESS)
    started = await start(system, customer.headers, {"method": "postal"})
    assert started.status_code == 202, started.text
    verification_id = started.json()["verification_id"]
    entered = await system.gateway.post(
        f"/v1/kyc/verifications/{verification_id}/postal-code",
        json={"code": await mailed_code(system)},
        headers=customer.headers,
    )
    assert (entered.status_code, entered.json()["status"]) == (200, "approved"), entered.text
    await money_moves_after_the_relay(system, customer, verification_id)


@pytest.mark.req("KYC-1")
@pytest.mark.req("KYC-2")
async def test_jpki_signature_lets_money_move(system: System, sms: SmsSink, root: jpki_ca.Authority) -> None:
    customer = await unverified_customer(system, sms, **CARD_HOLDER)
    started = await start(system, customer.headers, {"method": "jpki"})
    assert started.status_code == 202, started.text
    verification_id = started.json()["verification_id"]
    card = root.issue_card()
    signature = card.sign(base64.b64decode(started.json()["challenge"]))
    signed = await system.gateway.post(
        f"/v1/kyc/verifications/{verification_id}/jpki-signature",
        json={"signature": base64.b64encode(signature).decode(), "certificate": base64.b64encode(card.der()).decode()},
        headers=customer.headers,
    )
    assert (signed.status_code, signed.json()["status"]) == (200, "approved"), signed.text
    await money_moves_after_the_relay(system, customer, verification_id)
