"""Bank links and charges through the gateway: accounts at the simulated bank, customers whose identity a real eKYC
approval verified (kyc holds the verified identity the bank's holder is matched against), and requests stepped up
with an SMS code, as a customer's app would."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.txn import models
from services.txn.banks import AccountRef, BankSimulator, SimulatedAccount
from services.txn.books import check_books
from shared.ids import new_id
from shared.outbox import PAYLOAD_CONTEXT
from tests.auth.conftest import CUSTOMER
from tests.harness import System
from tests.kyc.conftest import ekyc_body, signed_in_again, staff_headers, start
from tests.servers import eventually, eventually_async
from tests.txn.conftest import Customer, signed_in_customer

HOLDER_KANA = "ｻﾄｳ ﾊﾅｺ"  # CUSTOMER's name (サトウ ハナコ) as the bank writes it
BIRTH_DATE = date.fromisoformat(CUSTOMER["birth_date"])
JST = ZoneInfo("Asia/Tokyo")
DAY = 24 * 3600
_addresses = itertools.count(1)


def simulator(system: System) -> BankSimulator:
    bank = system.apps["txn"].state.service.runtime.bank
    assert isinstance(bank, BankSimulator)
    return bank


def bank_account(
    system: System,
    *,
    bank_code: str = "0001",
    branch_code: str = "123",
    account_number: str = "1234567",
    holder_kana: str = HOLDER_KANA,
    birth_date: date | None = BIRTH_DATE,
    balance: int = 1_000_000,
    claimed_kana: str = CUSTOMER["name_kana"],
) -> dict[str, str]:
    """An account opened at the simulated bank, and the body of a link request for it (with the holder's name as
    the customer types it)."""
    simulator(system).open_account(
        SimulatedAccount(
            bank_code=bank_code,
            branch_code=branch_code,
            account_number=account_number,
            holder_kana=holder_kana,
            birth_date=birth_date,
            balance=balance,
        )
    )
    return {
        "bank_code": bank_code,
        "branch_code": branch_code,
        "account_number": account_number,
        "holder_kana": claimed_kana,
    }


def ref(body: dict[str, str]) -> AccountRef:
    return AccountRef(body["bank_code"], body["branch_code"], body["account_number"])


def to_mid_month(system: System) -> None:
    """Move the clock to the 3rd of next month (JST), so that a test's few days never straddle two months."""
    local = system.clock.now().astimezone(JST)
    first_of_next = (local.replace(day=1) + timedelta(days=32)).replace(day=3, hour=10, minute=0, second=0)
    system.clock.advance(seconds=(first_of_next - local).total_seconds())  # type: ignore[attr-defined]


async def verified_customer(system: System, sms: SmsSink, **declared: Any) -> Customer:
    """A customer signed in with password and SMS whose identity an eKYC submission, approved by staff, verified;
    returned once auth has heard it (the gateway lets money routes through)."""
    customer = await signed_in_customer(system, sms, **declared)
    started = await start(system, customer.headers, ekyc_body())
    assert (started.status_code, started.json()["status"]) == (202, "manual_review"), started.text
    analyst = await staff_headers(system, new_id("rev")[:20], "analyst")
    approved = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{started.json()['verification_id']}/approve",
        json={"reason": "documents match"},
        headers=analyst,
    )
    assert approved.status_code == 200, approved.text

    async def verified() -> bool:
        me = await system.gateway.get("/v1/me", headers=customer.headers)
        return bool(me.json()["kyc_status"] == "verified")

    await eventually_async(verified)
    return customer


async def sign_in_again(system: System, sms: SmsSink, customer: Customer) -> None:
    """A new session after the clock moved on (tokens live minutes, money needs a recent login)."""
    customer.headers = await signed_in_again(system, sms, email=customer.email, phone=customer.phone)


def e164(phone: str) -> str:
    return "+81" + phone.replace("-", "")[1:]


async def grant_for(system: System, sms: SmsSink, customer: Customer, challenged: httpx.Response) -> str:
    """The grant of the step-up the gateway asked for, answered with the SMS code. The challenge calls come from an
    address of their own each time: the gateway limits them per address, and these tests take many."""
    assert (challenged.status_code, challenged.json()["code"]) == (401, "step_up_required"), challenged.text
    challenge_id = challenged.json()["challenge"]["id"]
    address = next(_addresses)
    transport = httpx.ASGITransport(
        system.apps["gateway"], client=(f"198.51.{100 + address // 250}.{address % 250 + 1}", 40000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        phone = e164(customer.phone)
        before = len(sms.received)

        def codes() -> list[str]:  # notices reach the same phone meanwhile: only a message with a code counts
            found = (re.search(r"\b(\d{6})\b", m.body) for m in sms.received[before:] if m.to == phone)
            return [match.group(1) for match in found if match]

        sent = await client.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
        assert sent.status_code == 202, sent.text
        await eventually(lambda: bool(codes()))
        verified = await client.post(
            f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": codes()[-1]}
        )
    assert verified.status_code == 200, verified.text
    grant: str = verified.json()["grant"]
    return grant


async def stepped_up(
    system: System,
    sms: SmsSink,
    customer: Customer,
    path: str,
    body: dict[str, Any] | None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The request as the customer; when the gateway asks for a step-up, answer it by SMS and send it again."""
    sent = {**customer.headers, **(headers or {})}
    first = await system.gateway.request(method, path, json=body, headers=sent)
    if first.status_code != 401:
        return first
    grant = await grant_for(system, sms, customer, first)
    return await system.gateway.request(method, path, json=body, headers={**sent, "Step-Up-Grant": grant})


async def link(system: System, sms: SmsSink, customer: Customer, body: dict[str, str]) -> httpx.Response:
    return await stepped_up(system, sms, customer, "/v1/bank-links", body)


async def linked(system: System, sms: SmsSink, customer: Customer, body: dict[str, str]) -> str:
    answered = await link(system, sms, customer, body)
    assert answered.status_code == 201, answered.text
    link_id: str = answered.json()["link_id"]
    return link_id


async def charge(
    system: System, sms: SmsSink, customer: Customer, link_id: str, amount: int, *, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"link_id": link_id, "amount": amount}
    return await stepped_up(system, sms, customer, "/v1/charges", body, headers=headers)


async def wallet_balance(system: System, sms: SmsSink, customer: Customer) -> int:
    account = await stepped_up(system, sms, customer, "/v1/me/account", None, method="GET")
    assert account.status_code == 200, account.text
    balance: int = account.json()["wallet_balance"]
    return balance


async def txn_rows(system: System, table: Any) -> list[Any]:
    """The rows of a txn table, in the order of their ids (ids begin with the time they were made)."""
    state = system.apps["txn"].state.service
    async with state.database.transaction() as session:
        return list((await session.execute(select(table).order_by(*table.primary_key.columns))).all())


async def fraud_events(system: System, type: str) -> list[dict[str, Any]]:
    """The events txn queued for fraud (its outbox, opened), of one type."""
    state = system.apps["txn"].state.service
    rows = await txn_rows(system, models.outbox)
    opened = [
        json.loads(state.cipher.open(r.payload, context=PAYLOAD_CONTEXT)) for r in rows if r.destination == "fraud"
    ]
    return [event for event in opened if event["type"] == type]


async def books_balance(system: System) -> None:
    """`sekisho books check` on the test's txn database: the books balance."""
    async with system.apps["txn"].state.service.database.transaction() as session:
        report = await check_books(session)
    assert report.balanced, report.to_text()


async def customer_with_link(
    system: System,
    sms: SmsSink,
    *,
    account_number: str = "1234567",
    balance: int = 1_000_000,
    settled: bool = True,
    **declared: Any,
) -> tuple[Customer, str, dict[str, str]]:
    """A verified customer whose account is a week old, with a bank account linked; `settled`: and the link's
    cool-off over (fraud reads money moved by a new account, or from a new link, as riskier: both are past here)."""
    customer = await verified_customer(system, sms, **declared)
    system.clock.advance(seconds=8 * DAY)  # type: ignore[attr-defined]
    await sign_in_again(system, sms, customer)
    body = bank_account(system, account_number=account_number, balance=balance)
    link_id = await linked(system, sms, customer, body)
    if settled:
        system.clock.advance(seconds=3 * DAY + 60)  # type: ignore[attr-defined]
        await sign_in_again(system, sms, customer)
    return customer, link_id, body


def refused(answer: httpx.Response, code: str) -> dict[str, Any]:
    """The 409 problem with this code."""
    assert (answer.status_code, answer.json().get("code")) == (409, code), answer.text
    body: dict[str, Any] = answer.json()
    return body
