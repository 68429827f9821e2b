"""txn through the gateway: the in-process system, verified customers with a credit line, and staff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.ids import new_id
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.gateway.test_kyc_gate import put_kyc
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import signed_in_again, staff_headers


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
        "gateway": {"public_origins": "http://testserver"},  # where the partners' signed requests say they go
        "txn": {"txn_sweep_poll_seconds": 0.5},  # expired holds released within a test's patience
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


@pytest.fixture
async def roomy_system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    """The system with room in fraud's connection pool: a score holds one connection while it takes a second
    (services/fraud/api.py), so with the test pool of two, requests the gateway scores at once (concurrent charges
    or links) would wait on each other until they time out."""
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "fraud": {"database_pool_size": 24},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


@dataclass
class Customer:
    customer_id: str
    headers: dict[str, str]  # the bearer of a password + SMS login
    email: str
    phone: str


async def signed_in_customer(
    system: System, sms: SmsSink, *, email: str = CUSTOMER["email"], phone: str = CUSTOMER["phone"], **declared: Any
) -> Customer:
    """A new customer, signed in with password and SMS (MFA); identity not verified."""
    customer_id = await open_account(system.gateway, email=email, phone=phone, **declared)
    headers = await signed_in_again(system, sms, email=email, phone=phone)
    return Customer(customer_id, headers, email, phone)


async def mark_verified(system: System, customer_id: str) -> None:
    """auth told the customer's identity is verified, as kyc's relay tells it on an approval (a factory: the real
    proofing flows are tests/kyc's; bank links, which need kyc's verified identity itself, go through them)."""
    answered = await put_kyc(system, customer_id, new_id("kyv"))
    assert answered.status_code == 200, answered.text


async def set_credit_line(system: System, customer_id: str, limit: int) -> dict[str, Any]:
    supervisor = await staff_headers(system, new_id("sup")[:20], "supervisor")
    answered = await system.gateway.put(
        f"/v1/ops/customers/{customer_id}/credit-line", json={"limit": limit, "reason": "screening"}, headers=supervisor
    )
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


@pytest.fixture
async def fraud_allows(system: System) -> AsyncIterator[Any]:
    """fraud's score, as txn asks it before money moves, fixed at allow: for tests whose decisions must not depend
    on it (its velocity rules decline a new account's third withdrawal in a minute, as soon as the events are in)."""
    from tests.txn.atm_network import ALLOW, fraud_at_txn  # the module imports this one

    async with fraud_at_txn(system) as fraud:
        fraud.answer = ALLOW
        yield fraud
