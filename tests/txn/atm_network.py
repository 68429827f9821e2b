"""The smartphone-ATM withdrawal as the tests drive it through the gateway: a partner ATM network signing its calls
(RFC 9421, tests/gateway/partner_client.py), the customer's app stepping up by SMS, and fraud as txn reaches it.

`requested_withdrawal` is the one factory: it makes the customer's withdrawal with txn's own domain function, for
tests that need many (limits, concurrency) and are about what the partner's authorize does with them; the
authorize, complete and reverse under test always go through the gateway with a real signature.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.gateway import partners
from services.txn import books, models, withdrawals
from services.txn.clients import FraudClient
from services.txn.runtime import TxnRuntime
from services.txn.sweeper import expire_holds
from shared.ids import new_token
from shared.internal_client import InternalClient
from tests.auth.test_api_login import login
from tests.gateway.partner_client import sign
from tests.harness import System
from tests.kyc.conftest import code_by_sms
from tests.txn.conftest import Customer, mark_verified, set_credit_line, signed_in_customer

GATEWAY = "http://testserver"  # the origin partners sign for (the gateway's public_origins in tests/txn/conftest)


@dataclass
class Partner:
    """A partner ATM network: its credentials from the gateway, and its calls, each signed afresh."""

    system: System
    name: str
    credentials: dict[str, str]

    @property
    def partner_id(self) -> str:
        return self.credentials["partner_id"]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        content = json.dumps(body if body is not None else {}).encode()
        headers = sign(
            "POST",
            GATEWAY + path,
            content,
            key_id=self.credentials["key_id"],
            secret=self.credentials["secret"],
            created=int(self.system.clock.timestamp()),
        )
        return await self.system.gateway.post(
            path, content=content, headers={"Content-Type": "application/json", **headers}
        )

    async def open_session(self, atm_id: str = "AT0001") -> dict[str, Any]:
        opened = await self.post("/v1/atm/sessions", {"atm_id": atm_id})
        assert opened.status_code == 201, opened.text
        body: dict[str, Any] = opened.json()
        return body

    async def authorize(self, session_id: str, code: str, amount: int, request_id: str | None = None) -> httpx.Response:
        body = {"session_id": session_id, "one_time_code": code, "amount": amount, "request_id": request_id or rid()}
        return await self.post("/v1/atm/withdrawals/authorize", body)

    async def approved(self, session_id: str, code: str, amount: int) -> str:
        answered = await self.authorize(session_id, code, amount)
        assert answered.status_code == 200, answered.text
        assert answered.json()["decision"] == "approved", answered.text
        authorization_id: str = answered.json()["authorization_id"]
        return authorization_id

    async def complete(self, authorization_id: str) -> httpx.Response:
        return await self.post(f"/v1/atm/withdrawals/{authorization_id}/complete")

    async def reverse(self, authorization_id: str) -> httpx.Response:
        return await self.post(f"/v1/atm/withdrawals/{authorization_id}/reverse")


def rid() -> str:
    """A partner's request_id."""
    return "req-" + new_token(12)


async def create_partner(system: System, name: str) -> Partner:
    """What `sekisho partner create NAME` does, on the running gateway's database."""
    state = system.apps["gateway"].state.service
    async with state.database.transaction() as session:
        credentials = await partners.create_partner(
            session, name=name, allowed_cidrs=None, cipher=state.cipher, now=system.clock.now()
        )
    return Partner(system, name, credentials)


async def borrower(
    system: System, sms: SmsSink, limit: int, *, email: str = "hanako.sato@example.jp", phone: str = "090-1234-5678"
) -> Customer:
    """A customer signed in with password and SMS, identity verified, with a credit line of `limit` yen."""
    customer = await signed_in_customer(system, sms, email=email, phone=phone)
    await mark_verified(system, customer.customer_id)
    await set_credit_line(system, customer.customer_id, limit)
    return customer


async def signed_in_with_sms(system: System, sms: SmsSink, customer: Customer) -> dict[str, str]:
    """The customer's headers after a new sign-in with password and SMS (MFA): what a session needs to read the
    account again once the clock has moved past the first one's life."""
    first = await login(system.gateway, login_id=customer.email, device="device-" + new_token(8))
    assert first.status_code == 401, first.text
    challenge_id = first.json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id, phone=e164(customer.phone))
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
    )
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}


def e164(phone: str) -> str:
    return "+81" + phone.replace("-", "")[1:]


async def step_up_grant(system: System, sms: SmsSink, customer: Customer, challenge: dict[str, Any]) -> str:
    """The grant for a step-up challenge, proved with the code sent by SMS to the customer's own phone."""
    code = await code_by_sms(system, sms, challenge["id"], phone=e164(customer.phone))
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge['id']}/verify", json={"method": "sms", "code": code}
    )
    assert verified.status_code == 200, verified.text
    grant: str = verified.json()["grant"]
    return grant


async def withdraw(
    system: System, sms: SmsSink, customer: Customer, qr: str, amount: int, **more: Any
) -> httpx.Response:
    """POST /v1/withdrawals as the app makes it: refused with a step-up challenge, the SMS code, the grant, the
    same request again."""
    body = {"qr": qr, "amount": amount, **more}
    first = await system.gateway.post("/v1/withdrawals", json=body, headers=customer.headers)
    assert first.status_code == 401, first.text
    assert first.json()["code"] == "step_up_required", first.text
    grant = await step_up_grant(system, sms, customer, first.json()["challenge"])
    return await system.gateway.post("/v1/withdrawals", json=body, headers={**customer.headers, "Step-Up-Grant": grant})


def code_in(created: httpx.Response) -> str:
    assert created.status_code == 201, created.text
    code: str = created.json()["one_time_code"]
    assert re.fullmatch(r"[0-9]{6}", code), code
    return code


def txn_runtime(system: System) -> TxnRuntime:
    runtime = system.apps["txn"].state.service.runtime
    assert isinstance(runtime, TxnRuntime)
    return runtime


async def requested_withdrawal(system: System, partner: Partner, customer_id: str, amount: int) -> tuple[str, str]:
    """Factory: an ATM session opened by the partner (signed, through the gateway) and the customer's withdrawal at
    it, made by txn's domain function as POST /v1/withdrawals would after its step-up: (session_id, code)."""
    opened = await partner.open_session()
    runtime = txn_runtime(system)
    async with runtime.database.transaction() as session:
        requested = await withdrawals.request_withdrawal(
            session, runtime, customer_id=customer_id, qr=opened["qr"], amount=amount, device_id=None, ip=None
        )
    return opened["session_id"], requested.one_time_code


async def authorized(system: System, partner: Partner, customer_id: str, amount: int) -> str:
    """A withdrawal requested (the factory) and authorized by the partner through the gateway: its authorization."""
    return await partner.approved(*await requested_withdrawal(system, partner, customer_id, amount), amount)


async def account(system: System, customer: Customer) -> dict[str, Any]:
    answered = await system.gateway.get("/v1/me/account", headers=customer.headers)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


async def sweep(system: System) -> int:
    """What the sweeper does on its next round, at the clock's time now."""
    return await expire_holds(txn_runtime(system).database, now=system.clock.now())


async def books_check(system: System) -> books.BooksReport:
    async with txn_runtime(system).database.transaction() as session:
        return await books.check_books(session)


async def holds(system: System, customer_id: str) -> list[Any]:
    h = models.hold
    async with txn_runtime(system).database.transaction() as session:
        return list((await session.execute(select(h).where(h.c.customer_id == customer_id))).all())


ALLOW = {"score": 0, "action": "allow"}


class FraudAtTxn(httpx.AsyncBaseTransport):
    """fraud as txn reaches it: the real service, or down, or a chosen answer to `/score`, or each score held at a
    gate until the test opens it."""

    def __init__(self, real: httpx.AsyncBaseTransport) -> None:
        self.real = real
        self.down = False
        self.answer: dict[str, Any] | None = None
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()  # a score arrived at the closed gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("fraud is down", request=request)
        if request.url.path == "/score":
            if self.gate is not None:
                self.waiting.set()
                await self.gate.wait()
            if self.answer is not None:
                fixed = {"score_id": "scr_test", "reasons": [], "summary": "", "rule_set_version": 1}
                return httpx.Response(200, json={**fixed, **self.answer})
        return await self.real.handle_async_request(request)


@asynccontextmanager
async def fraud_at_txn(system: System) -> AsyncIterator[FraudAtTxn]:
    """txn's fraud client, for the block, through a FraudAtTxn in front of the real fraud service."""
    state = system.apps["txn"].state.service
    runtime = txn_runtime(system)
    switch = FraudAtTxn(httpx.ASGITransport(system.apps["fraud"], raise_app_exceptions=False))
    client = InternalClient(settings=state.settings, issuer=state.issuer, transports={"fraud": switch})
    original, runtime.fraud = runtime.fraud, FraudClient(client)
    try:
        yield switch
    finally:
        runtime.fraud = original
        await client.aclose()
