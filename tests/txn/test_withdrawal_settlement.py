"""The end of an authorization (API.md complete / reverse) and of one never ended (the sweeper): each final, each
repeatable without moving money twice, none undoing another; and the books balance after them."""

from __future__ import annotations

import pytest

from sekisho.sinks import SmsSink
from tests.harness import System
from tests.servers import eventually_async
from tests.txn.atm_network import (
    account,
    authorized,
    books_check,
    borrower,
    create_partner,
    signed_in_with_sms,
    sweep,
)

pytestmark = pytest.mark.usefixtures("fraud_allows")


async def test_complete_posts_once_however_often_the_partner_says_it(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    authorization_id = await authorized(system, atm, customer.customer_id, 60_000)
    first = await atm.complete(authorization_id)
    assert first.status_code == 200, first.text
    assert (first.json()["authorization_id"], first.json()["status"], first.json()["amount"]) == (
        authorization_id,
        "completed",
        60_000,
    )
    for _ in range(3):
        again = await atm.complete(authorization_id)
        assert (again.status_code, again.content) == (200, first.content)
    listed = (await system.gateway.get("/v1/me/transactions", headers=customer.headers)).json()["transactions"]
    assert [(t["status"], t["amount"]) for t in listed] == [("completed", 60_000)]
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"], summary["available"]) == (60_000, 0, 240_000)

    refused = await atm.reverse(authorization_id)  # the cash is out: no reversal takes the debt back
    assert (refused.status_code, refused.json()["code"]) == (409, "authorization_completed"), refused.text
    report = await books_check(system)
    assert report.balanced, report.to_text()
    assert report.by_kind == {"withdrawal": 60_000}


async def test_reverse_releases_the_hold_once_and_a_reversed_withdrawal_cannot_complete(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    authorization_id = await authorized(system, atm, customer.customer_id, 70_000)
    assert (await account(system, customer))["available"] == 230_000
    first = await atm.reverse(authorization_id)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["amount"]) == ("reversed", 70_000)
    assert (await atm.reverse(authorization_id)).content == first.content
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"], summary["available"]) == (0, 0, 300_000)
    refused = await atm.complete(authorization_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "authorization_reversed"), refused.text
    unknown = await atm.complete("atz_00000000000000000000000000")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    listed = (await system.gateway.get("/v1/me/transactions", headers=customer.headers)).json()["transactions"]
    assert listed == []
    assert (await books_check(system)).postings == 0


async def test_a_hold_neither_completed_nor_reversed_expires_and_the_sweeper_releases_it(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    forgotten = await authorized(system, atm, customer.customer_id, 80_000)
    swept = await authorized(system, atm, customer.customer_id, 20_000)
    assert (await account(system, customer))["held"] == 100_000

    system.clock.advance(seconds=901)  # type: ignore[attr-defined]  # past txn_hold_seconds
    late = await atm.complete(forgotten)  # before any sweep: expired all the same
    assert (late.status_code, late.json()["code"]) == (409, "authorization_expired"), late.text
    customer.headers = await signed_in_with_sms(system, sms, customer)

    async def released() -> bool:  # by the sweeper the txn service runs
        return (await account(system, customer))["held"] == 0

    await eventually_async(released)
    assert await sweep(system) == 0  # nothing left for another round
    for authorization_id in (forgotten, swept):
        reversed_ = await atm.reverse(authorization_id)  # the partner's word comes late: released already
        assert (reversed_.status_code, reversed_.json()["status"]) == (200, "expired"), reversed_.text
        refused = await atm.complete(authorization_id)
        assert (refused.status_code, refused.json()["code"]) == (409, "authorization_expired")
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["available"]) == (0, 300_000)
    assert (await books_check(system)).balanced


async def test_the_sweeper_round_releases_only_what_is_due(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    old = await authorized(system, atm, customer.customer_id, 10_000)
    system.clock.advance(seconds=600)  # type: ignore[attr-defined]
    young = await authorized(system, atm, customer.customer_id, 10_000)
    system.clock.advance(seconds=301)  # type: ignore[attr-defined]  # the old one is 901 s old, the young 301 s
    await sweep(system)
    assert (await atm.reverse(old)).json()["status"] == "expired"
    assert (await atm.complete(young)).json()["status"] == "completed"
    customer.headers = await signed_in_with_sms(system, sms, customer)
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"]) == (10_000, 0)
    assert (await books_check(system)).balanced
