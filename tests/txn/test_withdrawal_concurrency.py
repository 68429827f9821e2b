"""Concurrent partner calls on PostgreSQL, where they truly run at once (SQLite has one writer): the credit line's
row lock keeps 50 authorizations within the line, one request_id moves money once under 100 retries, a retry while
the first still runs gets 409, and a complete racing a reverse ends the authorization one way only."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.txn import idempotency, models
from services.txn.authorizations import partner_scope
from tests.harness import Backend, System
from tests.servers import eventually_async
from tests.txn.atm_network import (
    account,
    authorized,
    books_check,
    borrower,
    create_partner,
    holds,
    requested_withdrawal,
    rid,
    txn_runtime,
)

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("fraud_allows")]


@pytest.fixture
def backend(postgres_backend: Backend) -> Backend:
    """PostgreSQL only: these tests are about rows locked by transactions running side by side."""
    return postgres_backend


async def test_fifty_concurrent_authorizations_never_pass_the_credit_line(system: System, sms: SmsSink) -> None:
    limit = 100_000
    customer = await borrower(system, sms, limit)
    atm = await create_partner(system, "seven-atm")
    amounts = [random.randrange(5_000, 15_001, 1_000) for _ in range(50)]
    requested = [await requested_withdrawal(system, atm, customer.customer_id, amount) for amount in amounts]

    pairs = list(zip(requested, amounts, strict=True))
    answers = await asyncio.gather(*(atm.authorize(session_id, code, amount) for (session_id, code), amount in pairs))
    assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    decisions = [(answer.json(), amount) for answer, amount in zip(answers, amounts, strict=True)]
    approved = [amount for decision, amount in decisions if decision["decision"] == "approved"]
    reasons = Counter(decision.get("reason_code") for decision, _ in decisions if decision["decision"] != "approved")
    assert set(reasons) <= {"insufficient_credit"}, reasons
    assert approved, "the line had room for some"
    assert sum(approved) <= limit
    assert sum(approved) > limit - 15_000  # the line was filled: nothing declined would have fitted at the end
    # The holds and the account say the same.
    active = [row for row in await holds(system, customer.customer_id) if row.status == "active"]
    assert sorted(row.amount for row in active) == sorted(approved)
    summary = await account(system, customer)
    assert (summary["held"], summary["available"]) == (sum(approved), limit - sum(approved))

    ids = [answer.json()["authorization_id"] for answer in answers if answer.json()["decision"] == "approved"]
    completed = await asyncio.gather(*(atm.complete(authorization_id) for authorization_id in ids))
    assert {answer.status_code for answer in completed} == {200}
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"]) == (sum(approved), 0)
    report = await books_check(system)
    assert report.balanced, report.to_text()
    assert report.by_kind == {"withdrawal": sum(approved)}


async def test_a_hundred_concurrent_retries_of_one_request_id_move_money_once(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 45_000)
    request_id = rid()

    answers = await asyncio.gather(*(atm.authorize(session_id, code, 45_000, request_id) for _ in range(100)))
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 409}, statuses
    decided = {answer.content for answer in answers if answer.status_code == 200}
    assert len(decided) == 1, decided  # every answer that was given is the one answer
    in_progress = {answer.json()["code"] for answer in answers if answer.status_code == 409}
    assert in_progress <= {"request_in_progress"}
    final = await atm.authorize(session_id, code, 45_000, request_id)
    assert final.status_code == 200
    assert decided <= {final.content}
    assert final.json()["decision"] == "approved", final.text
    assert [row.amount for row in await holds(system, customer.customer_id)] == [45_000]
    assert (await account(system, customer))["held"] == 45_000


async def test_a_retry_while_the_first_request_runs_gets_409_and_then_its_answer(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 12_000)
    request_id = rid()
    runtime = txn_runtime(system)
    scope = partner_scope(atm.partner_id)

    async def claimed() -> bool:
        async with runtime.database.transaction() as session:
            found = await idempotency.find(session, scope=scope, key=request_id)
        return found is not None and found.state is idempotency.State.IN_PROGRESS

    # Another transaction holds the customer's credit line: the first request gets in, claims its request_id, and
    # waits at the line's lock, as it would behind a concurrent authorization of the same customer.
    line = models.credit_line
    async with runtime.database.transaction() as blocker:
        await blocker.execute(select(line).where(line.c.customer_id == customer.customer_id).with_for_update())
        first = asyncio.create_task(atm.authorize(session_id, code, 12_000, request_id))
        await eventually_async(claimed)

        retry = await atm.authorize(session_id, code, 12_000, request_id)
        assert (retry.status_code, retry.json()["code"]) == (409, "request_in_progress"), retry.text
        assert "Retry-After" in retry.headers
        other_payload = await atm.authorize(session_id, code, 13_000, request_id)
        assert (other_payload.status_code, other_payload.json()["code"]) == (422, "idempotency_key_reused")
        reverse = await atm.reverse(request_id)  # the partner gives up meanwhile: the outcome is not known yet
        assert (reverse.status_code, reverse.json()["code"]) == (409, "request_in_progress"), reverse.text
        assert not first.done()
    answered = await asyncio.wait_for(first, timeout=10)
    assert answered.json()["decision"] == "approved", answered.text
    assert (await atm.authorize(session_id, code, 12_000, request_id)).content == answered.content
    reversed_ = await atm.reverse(request_id)  # now it is known, and reversed
    assert reversed_.json()["authorization_id"] == answered.json()["authorization_id"]
    assert (await account(system, customer))["held"] == 0


async def test_a_complete_racing_a_reverse_ends_the_authorization_one_way(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    authorization_id = await authorized(system, atm, customer.customer_id, 33_000)
    calls = [atm.complete if i % 2 else atm.reverse for i in range(20)]
    answers = await asyncio.gather(*(call(authorization_id) for call in calls))
    ok = {answer.json()["status"] for answer in answers if answer.status_code == 200}
    assert len(ok) == 1, ok
    ended = ok.pop()
    refused = {answer.json()["code"] for answer in answers if answer.status_code != 200}
    assert refused == {"authorization_completed" if ended == "completed" else "authorization_reversed"}
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"]) == ((33_000, 0) if ended == "completed" else (0, 0))
    report = await books_check(system)
    assert report.balanced, report.to_text()
    assert report.by_kind == ({"withdrawal": 33_000} if ended == "completed" else {})
