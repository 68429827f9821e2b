"""The partner's request_id (API.md: "the same request_id again returns the same answer and moves no money twice"),
as Stripe and the IETF Idempotency-Key draft have it: replays byte for byte, another payload refused, a worker that
died does not block the key for ever, and a reversal that overtakes its authorization leaves a tombstone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sekisho.sinks import SmsSink
from services.txn import idempotency, models
from services.txn.sweeper import forget_request_ids
from tests.harness import System
from tests.txn.atm_network import (
    ALLOW,
    account,
    books_check,
    borrower,
    create_partner,
    fraud_at_txn,
    requested_withdrawal,
    rid,
    txn_runtime,
)

pytestmark = pytest.mark.usefixtures("fraud_allows")


async def test_the_same_request_id_replays_the_first_answer_byte_for_byte_and_holds_once(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 40_000)
    request_id = rid()
    first = await atm.authorize(session_id, code, 40_000, request_id)
    assert first.json()["decision"] == "approved", first.text
    for _ in range(3):
        again = await atm.authorize(session_id, code, 40_000, request_id)
        assert (again.status_code, again.content) == (200, first.content)
    assert (await account(system, customer))["held"] == 40_000
    assert (await atm.complete(first.json()["authorization_id"])).status_code == 200
    after = await atm.authorize(session_id, code, 40_000, request_id)  # the first answer, whatever happened since
    assert (after.status_code, after.content) == (200, first.content)
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"]) == (40_000, 0)


async def test_a_replayed_decline_is_counted_once_and_another_payload_under_a_used_request_id_is_refused(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 10_000)
    wrong = f"{(int(code) + 7) % 10**6:06d}"
    guessed = rid()
    first = await atm.authorize(session_id, wrong, 10_000, guessed)
    assert first.json() == {"decision": "declined", "reason_code": "code_invalid"}
    for _ in range(4):  # the ATM's retries of one wrong entry are one wrong entry
        assert (await atm.authorize(session_id, wrong, 10_000, guessed)).content == first.content

    # The right code under the used request_id is another request: refused, not decided.
    reused = await atm.authorize(session_id, code, 10_000, guessed)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused"), reused.text
    declined_again = await atm.authorize(session_id, wrong, 10_000)
    assert declined_again.json()["reason_code"] == "code_invalid"  # the second wrong entry
    approved = await atm.authorize(session_id, code, 10_000)
    assert approved.json()["decision"] == "approved", approved.text  # two wrong entries: it lives

    changed = await atm.authorize(session_id, code, 20_000, guessed)
    assert (changed.status_code, changed.json()["code"]) == (422, "idempotency_key_reused")
    # Another partner's request_ids are its own: the same string means nothing across networks.
    other = await create_partner(system, "lawson-atm")
    theirs = await other.authorize(session_id, code, 10_000, guessed)
    assert theirs.json() == {"decision": "declined", "reason_code": "session_not_found"}
    assert (await account(system, customer))["held"] == 10_000


async def test_a_reversal_that_overtakes_its_authorization_leaves_a_tombstone(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 25_000)
    lost = rid()  # the authorize the ATM gave up on: its request is still on the way

    reversed_first = await atm.reverse(lost)
    assert reversed_first.status_code == 200, reversed_first.text
    assert reversed_first.json() == {
        "authorization_id": None,
        "request_id": lost,
        "status": "reversed",
        "amount": None,
        "settled_at": None,
    }
    late = await atm.authorize(session_id, code, 25_000, lost)
    assert late.json() == {"decision": "declined", "reason_code": "reversed"}, late.text
    assert (await atm.authorize(session_id, code, 25_000, lost)).content == late.content
    assert (await atm.reverse(lost)).json() == reversed_first.json()
    assert (await account(system, customer))["held"] == 0

    # The customer's withdrawal itself is untouched: the ATM's next attempt, under a new request_id, is decided.
    await atm.approved(session_id, code, 25_000)
    assert (await account(system, customer))["held"] == 25_000


async def test_a_partner_that_never_got_the_answer_reverses_by_its_request_id(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 25_000)
    request_id = rid()
    approved = await atm.authorize(session_id, code, 25_000, request_id)  # answered, but the answer was lost
    authorization_id = approved.json()["authorization_id"]
    assert (await account(system, customer))["held"] == 25_000

    reversed_ = await atm.reverse(request_id)
    assert reversed_.status_code == 200, reversed_.text
    assert (reversed_.json()["authorization_id"], reversed_.json()["status"]) == (authorization_id, "reversed")
    assert (await atm.reverse(authorization_id)).json() == reversed_.json()
    assert (await account(system, customer))["held"] == 0
    refused = await atm.complete(authorization_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "authorization_reversed")


async def test_a_request_whose_worker_died_blocks_its_request_id_only_until_the_lease_lapses(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 15_000)
    request_id = rid()
    async with fraud_at_txn(system) as fraud:
        fraud.answer, fraud.gate = ALLOW, asyncio.Event()
        dying = asyncio.create_task(atm.authorize(session_id, code, 15_000, request_id))
        await asyncio.wait_for(fraud.waiting.wait(), timeout=10)
        dying.cancel()  # the replica is killed mid-request: its transaction is rolled back, its claim stays
        with pytest.raises(asyncio.CancelledError):
            await dying

    blocked = await atm.authorize(session_id, code, 15_000, request_id)
    assert (blocked.status_code, blocked.json()["code"]) == (409, "request_in_progress"), blocked.text
    assert (await account(system, customer))["held"] == 0
    system.clock.advance(seconds=31)  # type: ignore[attr-defined]  # txn_request_lease_seconds
    taken_over = await atm.authorize(session_id, code, 15_000, request_id)
    assert taken_over.json()["decision"] == "approved", taken_over.text
    assert (await atm.authorize(session_id, code, 15_000, request_id)).content == taken_over.content
    assert (await account(system, customer))["held"] == 15_000


async def test_request_ids_are_forgotten_after_their_retention_and_one_repeated_then_moves_no_money(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 30_000)
    request_id, lost = rid(), rid()
    first = await atm.authorize(session_id, code, 30_000, request_id)
    assert first.json()["decision"] == "approved", first.text
    assert (await atm.complete(first.json()["authorization_id"])).status_code == 200
    assert (await atm.reverse(lost)).status_code == 200  # a tombstone
    runtime = txn_runtime(system)
    retention = timedelta(hours=runtime.settings.txn_request_id_retention_hours)
    assert retention >= timedelta(days=1)

    async def kept() -> set[str]:
        async with runtime.database.transaction() as session:
            found = [
                await idempotency.find(session, scope=f"atm:{atm.partner_id}", key=key) for key in (request_id, lost)
            ]
        return {key for key, record in zip((request_id, lost), found, strict=True) if record is not None}

    system.clock.advance(seconds=retention.total_seconds() - 3600)  # type: ignore[attr-defined]
    await forget_request_ids(runtime.database, now=system.clock.now(), retention=retention)
    assert await kept() == {request_id, lost}  # within the retention: remembered

    system.clock.advance(seconds=2 * 3600)  # type: ignore[attr-defined]
    await forget_request_ids(runtime.database, now=system.clock.now(), retention=retention)
    assert await kept() == set()
    # Repeated after its key is forgotten, the request is decided afresh, and its withdrawal is spent: declined.
    repeated = await atm.authorize(session_id, code, 30_000, request_id)
    assert repeated.json()["decision"] == "declined", repeated.text
    async with runtime.database.transaction() as session:  # a week on, the customer's token is long expired
        made = await session.scalar(select(func.count()).select_from(models.atm_authorization))
        held = await session.scalar(
            select(func.count()).select_from(models.hold).where(models.hold.c.status == "active")
        )
    assert (made, held) == (1, 0)
    report = await books_check(system)
    assert report.balanced, report.to_text()
    assert report.by_kind == {"withdrawal": 30_000}


async def test_a_live_claim_is_never_forgotten_however_old(system: System) -> None:
    runtime = txn_runtime(system)
    now = system.clock.now()
    long_ago = now - timedelta(days=400)
    rows = [
        ("atm:p", "live", idempotency.State.IN_PROGRESS.value, now + timedelta(seconds=30)),
        ("atm:p", "lapsed", idempotency.State.IN_PROGRESS.value, now - timedelta(seconds=1)),
        ("atm:p", "done", idempotency.State.DONE.value, None),
    ]
    async with runtime.database.transaction() as session:
        for scope, key, state, lease_until in rows:
            await session.execute(
                models.idempotency_key.insert().values(
                    scope=scope, key=key, state=state, lease_until=lease_until, created_at=long_ago
                )
            )
    forgotten = await forget_request_ids(runtime.database, now=now, retention=timedelta(days=7))
    assert forgotten == 2
    async with runtime.database.transaction() as session:
        left = (await session.scalars(select(models.idempotency_key.c.key))).all()
    assert left == ["live"]
