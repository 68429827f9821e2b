"""The partner's authorize, attacked and refused over HTTP: wrong codes, another partner, a withdrawn verification,
limits, the credit line, fraud's verdict and fraud being down. A decline is an answer (200, `reason_code`); nothing
is held but for an approval."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
import pytest

from sekisho.sinks import SmsSink
from services.txn.authorizations import JST
from tests.gateway.test_kyc_gate import put_kyc
from tests.harness import System
from tests.kyc.conftest import staff_headers
from tests.txn.atm_network import (
    account,
    authorized,
    books_check,
    borrower,
    create_partner,
    fraud_at_txn,
    requested_withdrawal,
    rid,
    signed_in_with_sms,
)
from tests.txn.conftest import mark_verified, signed_in_customer


def declined(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"decision": "declined", "reason_code": reason}, response.text


@pytest.mark.usefixtures("fraud_allows")
async def test_three_wrong_codes_kill_the_withdrawal_whatever_comes_after(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 20_000)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    declined(await atm.authorize(session_id, wrong, 20_000), "code_invalid")
    declined(await atm.authorize(session_id, code, 20_001), "amount_mismatch")  # counts too: the amount is bound
    declined(await atm.authorize(session_id, wrong, 20_000), "code_invalid")
    # Dead now: the right code and amount change nothing, and a guess learns nothing more.
    declined(await atm.authorize(session_id, code, 20_000), "attempts_exceeded")
    declined(await atm.authorize(session_id, wrong, 20_000), "attempts_exceeded")
    assert (await account(system, customer))["held"] == 0

    # A fresh withdrawal with its own code works: the lock is the withdrawal's, not the customer's.
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 20_000)
    await atm.approved(session_id, code, 20_000)
    assert (await account(system, customer))["held"] == 20_000


async def test_a_code_or_a_session_past_its_time_is_declined(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    late_code_session, late_code = await requested_withdrawal(system, atm, customer.customer_id, 10_000)
    late_session, its_code = await requested_withdrawal(system, atm, customer.customer_id, 10_000)
    system.clock.advance(seconds=181)  # type: ignore[attr-defined]  # past the code's 180 s, within the session's 300 s
    declined(await atm.authorize(late_code_session, late_code, 10_000), "code_expired")
    system.clock.advance(seconds=120)  # type: ignore[attr-defined]
    declined(await atm.authorize(late_session, its_code, 10_000), "session_expired")
    declined(await atm.authorize("atms_00000000000000000000000000", its_code, 10_000), "session_not_found")
    fresh = await atm.open_session()
    declined(await atm.authorize(fresh["session_id"], its_code, 10_000), "withdrawal_not_found")


@pytest.mark.usefixtures("fraud_allows")
async def test_another_partner_can_neither_authorize_nor_end_a_withdrawal_it_did_not_start(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    seven, thief = await create_partner(system, "seven-atm"), await create_partner(system, "rogue-atm")
    session_id, code = await requested_withdrawal(system, seven, customer.customer_id, 30_000)

    # Even with the code (seen over the customer's shoulder): another network's session is not found by it.
    declined(await thief.authorize(session_id, code, 30_000), "session_not_found")
    authorization_id = await seven.approved(session_id, code, 30_000)  # the guesses counted nothing
    for answered in (await thief.complete(authorization_id), await thief.reverse(authorization_id)):
        assert (answered.status_code, answered.json()["code"]) == (404, "not_found"), answered.text
    assert (await account(system, customer))["held"] == 30_000
    assert (await seven.complete(authorization_id)).status_code == 200
    assert (await account(system, customer))["outstanding"] == 30_000


async def test_a_verification_withdrawn_after_the_request_declines_the_authorization(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 10_000)
    withdrawn = await put_kyc(system, customer.customer_id, "kyv_again", status="reverification_required")
    assert withdrawn.status_code == 200, withdrawn.text
    declined(await atm.authorize(session_id, code, 10_000), "kyc_required")
    declined(await atm.authorize(session_id, code, 10_000), "withdrawal_declined")  # the customer starts over
    assert (await account(system, customer))["held"] == 0


@pytest.mark.usefixtures("fraud_allows")
async def test_the_credit_line_is_never_passed_and_a_customer_without_one_gets_nothing(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 50_000)
    atm = await create_partner(system, "seven-atm")
    first = await requested_withdrawal(system, atm, customer.customer_id, 30_000)
    second = await requested_withdrawal(system, atm, customer.customer_id, 30_000)
    authorization_id = await atm.approved(*first, 30_000)
    declined(await atm.authorize(*second, 30_000), "insufficient_credit")  # the hold counts
    assert (await atm.complete(authorization_id)).status_code == 200
    third = await requested_withdrawal(system, atm, customer.customer_id, 30_000)
    declined(await atm.authorize(*third, 30_000), "insufficient_credit")  # and so does what is drawn
    last = await requested_withdrawal(system, atm, customer.customer_id, 20_000)
    await atm.approved(*last, 20_000)
    assert (await account(system, customer))["available"] == 0

    lineless = await signed_in_customer(system, sms, email="taro.suzuki@example.jp", phone="080-2222-3333")
    await mark_verified(system, lineless.customer_id)
    nothing = await requested_withdrawal(system, atm, lineless.customer_id, 10_000)
    declined(await atm.authorize(*nothing, 10_000), "no_credit_line")
    stopped = await borrower(system, sms, 0, email="jiro.tanaka@example.jp", phone="080-4444-5555")
    zero = await requested_withdrawal(system, atm, stopped.customer_id, 10_000)
    declined(await atm.authorize(*zero, 10_000), "insufficient_credit")  # a line set to 0 stops new draws
    assert (await books_check(system)).balanced


@pytest.mark.usefixtures("fraud_allows")
async def test_a_day_and_a_month_in_japan_cap_what_is_withdrawn_holds_included(system: System, sms: SmsSink) -> None:
    # Begin at 10:00 JST on the 1st of next month: four days of the 500,000 yen a day, then the month's 2,000,000.
    local = system.clock.now().astimezone(JST)
    start = (local.replace(day=1) + timedelta(days=32)).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
    system.clock.set(start.astimezone(UTC))  # type: ignore[attr-defined]
    customer = await borrower(system, sms, 3_000_000)
    atm = await create_partner(system, "seven-atm")

    held = await authorized(system, atm, customer.customer_id, 300_000)
    over = await requested_withdrawal(system, atm, customer.customer_id, 300_000)
    declined(await atm.authorize(*over, 300_000), "limit_exceeded")  # 600,000 today, the hold counted
    assert (await atm.reverse(held)).status_code == 200  # released: it no longer counts
    done = await authorized(system, atm, customer.customer_id, 500_000)
    assert (await atm.complete(done)).status_code == 200
    one_more = await requested_withdrawal(system, atm, customer.customer_id, 1_000)
    declined(await atm.authorize(*one_more, 1_000), "limit_exceeded")

    for _ in range(3):  # the next three days, at 10:00 JST: 500,000 each
        system.clock.advance(days=1)  # type: ignore[attr-defined]
        day = await authorized(system, atm, customer.customer_id, 500_000)
        assert (await atm.complete(day)).status_code == 200
    system.clock.advance(days=1)  # type: ignore[attr-defined]
    month_full = await requested_withdrawal(system, atm, customer.customer_id, 1_000)
    declined(await atm.authorize(*month_full, 1_000), "limit_exceeded")

    local_now = system.clock.now().astimezone(JST)
    assert local_now.month == start.month
    customer.headers = await signed_in_with_sms(system, sms, customer)
    summary = await account(system, customer)
    assert (summary["outstanding"], summary["held"]) == (2_000_000, 0)
    assert (await books_check(system)).balanced


async def test_fraud_declining_or_down_holds_nothing(system: System, sms: SmsSink) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    session_id, code = await requested_withdrawal(system, atm, customer.customer_id, 10_000)

    async with fraud_at_txn(system) as fraud:
        fraud.down = True
        request_id = rid()
        for _ in range(2):
            down = await atm.authorize(session_id, code, 10_000, request_id)
            assert (down.status_code, down.json()["code"]) == (503, "service_unavailable"), down.text
        assert (await account(system, customer))["held"] == 0
        fraud.down = False
        # The failed attempt kept nothing, not even the request_id: the partner's retry is decided afresh.
        back = await atm.authorize(session_id, code, 10_000, request_id)
        assert back.json()["decision"] == "approved", back.text

    # fraud learns the customer's account was taken over: the next authorization is declined on its word.
    supervisor = await staff_headers(system, "supervisor.fraud", "supervisor")
    listed = await system.gateway.put(
        "/v1/ops/fraud/lists/customers/entries",
        json={"value": customer.customer_id, "note": "account takeover, case 7"},
        headers=supervisor,
    )
    assert listed.status_code in (200, 201), listed.text

    attempt = await requested_withdrawal(system, atm, customer.customer_id, 10_000)
    declined(await atm.authorize(*attempt, 10_000), "fraud_declined")
    lifted = await system.gateway.request(
        "DELETE", "/v1/ops/fraud/lists/customers/entries", params={"value": customer.customer_id}, headers=supervisor
    )
    assert lifted.status_code == 200, lifted.text  # (a listed customer cannot even read their account)
    assert (await account(system, customer))["held"] == 10_000  # the first one only
