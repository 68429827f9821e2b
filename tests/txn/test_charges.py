"""Charges into the wallet through the gateway (API.md `POST /v1/charges`): a new link's cool-off, the per-charge and
monthly caps (LINK-3), each refusal with a code that says why; the monthly cap under concurrent charges; the
Idempotency-Key; another customer's link; and the books balanced after all of it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.fraud import models as fraud_models
from services.txn import models
from tests.harness import System
from tests.servers import eventually_async
from tests.txn.banking import (
    DAY,
    bank_account,
    books_balance,
    charge,
    customer_with_link,
    fraud_events,
    grant_for,
    linked,
    ref,
    refused,
    sign_in_again,
    simulator,
    stepped_up,
    to_mid_month,
    txn_rows,
    verified_customer,
    wallet_balance,
)


@pytest.mark.req("LINK-3")
async def test_a_new_links_charges_are_held_to_its_cool_off_and_the_caps_with_a_code_that_says_why(
    system: System, sms: SmsSink
) -> None:
    to_mid_month(system)
    customer, link_id, body = await customer_with_link(system, sms, settled=False)

    over_cap = refused(await charge(system, sms, customer, link_id, 150_000), "charge_cap_exceeded")
    assert over_cap["limit"] == 100_000
    large = refused(await charge(system, sms, customer, link_id, 50_000), "link_cooling_off")
    assert (large["limit"], large["remaining"]) == (30_000, 30_000)
    assert large["cool_off_ends_at"]
    small = await charge(system, sms, customer, link_id, 20_000)
    assert small.status_code == 201, small.text
    assert small.json()["status"] == "completed"
    more = refused(await charge(system, sms, customer, link_id, 20_000), "link_cooling_off")
    assert more["remaining"] == 10_000
    assert await wallet_balance(system, sms, customer) == 20_000

    system.clock.advance(seconds=3 * DAY)  # type: ignore[attr-defined]  # the cool-off is over
    await sign_in_again(system, sms, customer)
    for amount in (100_000, 100_000):
        done = await charge(system, sms, customer, link_id, amount)
        assert done.status_code == 201, done.text
    month = refused(await charge(system, sms, customer, link_id, 100_000), "monthly_cap_exceeded")
    assert (month["limit"], month["remaining"]) == (300_000, 80_000)
    last = await charge(system, sms, customer, link_id, 80_000)
    assert last.status_code == 201, last.text
    assert refused(await charge(system, sms, customer, link_id, 1_000), "monthly_cap_exceeded")["remaining"] == 0

    assert await wallet_balance(system, sms, customer) == 300_000
    assert simulator(system).balance(ref(body)) == 700_000
    outcomes = [e["outcome"] for e in await fraud_events(system, "charge_requested")]
    assert outcomes == [
        "charge_cap_exceeded",
        "link_cooling_off",
        "ok",
        "link_cooling_off",
        "ok",
        "ok",
        "monthly_cap_exceeded",
        "ok",
        "monthly_cap_exceeded",
    ]
    completed = await fraud_events(system, "charge_completed")
    assert [e["data"]["amount"] for e in completed] == [20_000, 100_000, 100_000, 80_000]
    transactions = await stepped_up(system, sms, customer, "/v1/me/transactions", None, method="GET")
    assert [t["amount"] for t in transactions.json()["transactions"] if t["kind"] == "charge"] == [
        80_000,
        100_000,
        100_000,
        20_000,
    ]
    await books_balance(system)


@pytest.mark.req("LINK-3")
async def test_concurrent_charges_never_pass_the_monthly_cap(roomy_system: System, sms: SmsSink) -> None:
    """Eight charges of 50,000 yen at once, each stepped up, with its own Idempotency-Key: the monthly cap of
    300,000 lets six through, on PostgreSQL's row lock as on SQLite's one writer."""
    system = roomy_system
    to_mid_month(system)
    customer, link_id, body = await customer_with_link(system, sms)
    request = {"link_id": link_id, "amount": 50_000}
    grants = []
    for _ in range(8):
        challenged = await system.gateway.post("/v1/charges", json=request, headers=customer.headers)
        grants.append(await grant_for(system, sms, customer, challenged))

    answers = await asyncio.gather(
        *(
            system.gateway.post(
                "/v1/charges",
                json=request,
                headers={**customer.headers, "Step-Up-Grant": grant, "Idempotency-Key": f"monthly-{n:04d}"},
            )
            for n, grant in enumerate(grants)
        )
    )
    outcomes = sorted((a.status_code, a.json().get("code", "")) for a in answers)
    assert outcomes == [(201, "")] * 6 + [(409, "monthly_cap_exceeded")] * 2, [a.text for a in answers]
    assert await wallet_balance(system, sms, customer) == 300_000
    assert simulator(system).balance(ref(body)) == 700_000
    assert len(await txn_rows(system, models.charge)) == 6
    await books_balance(system)


async def test_the_same_idempotency_key_moves_money_once_and_another_body_under_it_is_refused(
    roomy_system: System, sms: SmsSink
) -> None:
    system = roomy_system
    to_mid_month(system)
    customer, link_id, body = await customer_with_link(system, sms)
    first = await charge(system, sms, customer, link_id, 10_000, key="topup-0001")
    again = await charge(system, sms, customer, link_id, 10_000, key="topup-0001")
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await charge(system, sms, customer, link_id, 20_000, key="topup-0001")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused"), other.text

    # Retries of one key at once: one charge, every answer the same.
    request = {"link_id": link_id, "amount": 5_000}
    grants = []
    for _ in range(4):
        challenged = await system.gateway.post("/v1/charges", json=request, headers=customer.headers)
        grants.append(await grant_for(system, sms, customer, challenged))
    answers = await asyncio.gather(
        *(
            system.gateway.post(
                "/v1/charges",
                json=request,
                headers={**customer.headers, "Step-Up-Grant": grant, "Idempotency-Key": "topup-0002"},
            )
            for grant in grants
        )
    )
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["charge_id"] for a in answers}) == 1
    assert await wallet_balance(system, sms, customer) == 15_000
    assert simulator(system).balance(ref(body)) == 985_000
    assert len(await txn_rows(system, models.charge)) == 2
    await books_balance(system)


async def test_a_charge_from_another_customers_link_is_not_found_and_moves_nothing(
    system: System, sms: SmsSink
) -> None:
    to_mid_month(system)
    _, link_id, body = await customer_with_link(system, sms)
    other = await verified_customer(system, sms, email="jiro@example.jp", phone="090-2222-3333")
    taken = await charge(system, sms, other, link_id, 10_000)
    assert (taken.status_code, taken.json()["code"]) == (404, "not_found"), taken.text
    assert await wallet_balance(system, sms, other) == 0
    assert simulator(system).balance(ref(body)) == 1_000_000
    assert await txn_rows(system, models.charge) == []


async def test_the_banks_refusal_and_frauds_review_stop_the_money_with_their_codes(
    system: System, sms: SmsSink
) -> None:
    to_mid_month(system)
    customer, link_id, body = await customer_with_link(system, sms, balance=5_000)
    refused(await charge(system, sms, customer, link_id, 10_000), "insufficient_funds")
    assert await wallet_balance(system, sms, customer) == 0
    assert simulator(system).balance(ref(body)) == 5_000

    # A new customer charging right after linking (the Docomo pattern): fraud's review declines it.
    fresh = await verified_customer(system, sms, email="saburo@example.jp", phone="090-3333-4444")
    fresh_link = await linked(system, sms, fresh, bank_account(system, account_number="5555555"))
    system.clock.advance(seconds=60)  # type: ignore[attr-defined]

    async def fraud_saw_the_link() -> bool:
        async with system.apps["fraud"].state.service.database.transaction() as session:
            e = fraud_models.event
            found = await session.scalar(
                select(e.c.id).where(e.c.customer_id == fresh.customer_id, e.c.type == "bank_account_linked")
            )
        return found is not None

    await eventually_async(fraud_saw_the_link)
    await sign_in_again(system, sms, fresh)
    declined = refused(await charge(system, sms, fresh, fresh_link, 10_000), "fraud_declined")
    assert declined["score_id"]
    assert await wallet_balance(system, sms, fresh) == 0
    outcomes = [e["outcome"] for e in await fraud_events(system, "charge_requested")]
    assert outcomes == ["insufficient_funds", "fraud_declined"]
    await books_balance(system)
