"""The smartphone-ATM withdrawal end to end through the gateway (API.md): the partner's session and QR, the app's
request with a real SMS step-up, the partner's signed authorize and complete, the customer's notice and views."""

from __future__ import annotations

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from tests.harness import System
from tests.kyc.conftest import signed_in_again
from tests.servers import eventually
from tests.txn.atm_network import (
    account,
    books_check,
    borrower,
    code_in,
    create_partner,
    e164,
    step_up_grant,
    withdraw,
)

OTHER = {"email": "taro.suzuki@example.jp", "phone": "080-2222-3333"}


@pytest.mark.req("AUTH-WD-1")
async def test_no_withdrawal_without_a_fresh_possession_factor_bound_to_the_qr_and_the_amount(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    here, there = await atm.open_session("AT0001"), await atm.open_session("AT0002")
    body = {"qr": here["qr"], "amount": 20_000}

    asked = await system.gateway.post("/v1/withdrawals", json=body, headers=customer.headers)
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required"), asked.text
    challenge = asked.json()["challenge"]
    assert "email" not in challenge["methods"]  # the weakest possession never counts for money
    grant = await step_up_grant(system, sms, customer, challenge)
    # The SMS says what the code approves: a withdrawal, and how much.
    told = sms.received[-1].body
    assert "出金" in told, told
    assert "20,000円" in told, told

    # The grant speaks for this QR and this amount only: not for more cash, nor for the ATM next to it.
    for forged in ({**body, "amount": 90_000}, {**body, "qr": there["qr"]}):
        refused = await system.gateway.post(
            "/v1/withdrawals", json=forged, headers={**customer.headers, "Step-Up-Grant": grant}
        )
        assert (refused.status_code, refused.json()["code"]) == (401, "step_up_required"), refused.text
    # Nor for long: a minute later it is gone.
    system.clock.advance(seconds=61)  # type: ignore[attr-defined]
    stale = await system.gateway.post(
        "/v1/withdrawals", json=body, headers={**customer.headers, "Step-Up-Grant": grant}
    )
    assert (stale.status_code, stale.json()["code"]) == (401, "step_up_required"), stale.text
    assert (await account(system, customer))["held"] == 0

    # With a fresh SMS code for this very withdrawal: the code for the ATM, and the cash.
    fresh = await step_up_grant(system, sms, customer, stale.json()["challenge"])
    created = await system.gateway.post(
        "/v1/withdrawals", json=body, headers={**customer.headers, "Step-Up-Grant": fresh}
    )
    code = code_in(created)
    again = await system.gateway.post(
        "/v1/withdrawals", json=body, headers={**customer.headers, "Step-Up-Grant": fresh}
    )
    assert again.status_code == 401  # a grant is used once
    authorization_id = await atm.approved(here["session_id"], code, 20_000)
    completed = await atm.complete(authorization_id)
    assert completed.status_code == 200, completed.text
    assert (await account(system, customer))["outstanding"] == 20_000


@pytest.mark.req("AUTH-WD-2")
async def test_the_customer_is_told_by_email_and_sms_when_the_withdrawal_completes(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    opened = await atm.open_session("AT0042")
    created = await withdraw(system, sms, customer, opened["qr"], 35_000)
    withdrawal_id = created.json()["withdrawal_id"]
    authorization_id = await atm.approved(opened["session_id"], code_in(created), 35_000)
    mails_before, sms_before = len(smtp.to(customer.email)), len(sms.received)

    completed = await atm.complete(authorization_id)
    assert completed.status_code == 200, completed.text

    def told_by_mail() -> bool:
        return any(
            "35,000円" in m.get_content() and withdrawal_id in m.get_content() and "seven-atm AT0042" in m.get_content()
            for m in smtp.to(customer.email)[mails_before:]
        )

    await eventually(told_by_mail)
    await eventually(
        lambda: any("35,000円が出金" in m.body for m in sms.received[sms_before:] if m.to == e164(customer.phone))
    )
    # Completing again (the partner's retry) tells nobody twice.
    assert (await atm.complete(authorization_id)).json() == completed.json()
    system.clock.advance(seconds=1)  # type: ignore[attr-defined]
    assert len([m for m in smtp.to(customer.email)[mails_before:] if "35,000円" in m.get_content()]) == 1


async def test_the_account_shows_the_withdrawal_held_then_outstanding_and_only_to_its_customer(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "lawson-atm")
    opened = await atm.open_session()
    created = await withdraw(system, sms, customer, opened["qr"], 50_000)
    untouched = await account(system, customer)
    assert (untouched["held"], untouched["available"]) == (0, 300_000)  # a request holds nothing: the ATM may never ask

    authorization_id = await atm.approved(opened["session_id"], code_in(created), 50_000)
    held = await account(system, customer)
    assert (held["outstanding"], held["held"], held["available"]) == (0, 50_000, 250_000)
    pending = (await system.gateway.get("/v1/me/transactions", headers=customer.headers)).json()["transactions"]
    assert [(t["transaction_id"], t["kind"], t["status"], t["amount"]) for t in pending] == [
        (authorization_id, "withdrawal", "pending", 50_000)
    ]

    assert (await atm.complete(authorization_id)).status_code == 200
    drawn = await account(system, customer)
    assert (drawn["outstanding"], drawn["held"], drawn["available"]) == (50_000, 0, 250_000)
    listed = (await system.gateway.get("/v1/me/transactions", headers=customer.headers)).json()["transactions"]
    assert [(t["kind"], t["status"], t["amount"]) for t in listed] == [("withdrawal", "completed", 50_000)]
    assert "lawson-atm" in listed[0]["memo"]

    other = await borrower(system, sms, 100_000, **OTHER)
    theirs = (await system.gateway.get("/v1/me/transactions", headers=other.headers)).json()
    assert theirs == {"transactions": [], "next": None}
    assert (await account(system, other))["outstanding"] == 0
    before = listed[0]["transaction_id"]
    paged = await system.gateway.get("/v1/me/transactions", params={"before": before}, headers=other.headers)
    assert paged.json()["transactions"] == []
    assert (await books_check(system)).balanced


async def test_the_app_can_only_withdraw_at_a_live_session_an_atm_showed_once_and_within_the_limit(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 900_000)
    atm = await create_partner(system, "seven-atm")
    opened = await atm.open_session()
    session_id = opened["session_id"]

    secret = opened["qr"].rsplit(":", 1)[1]
    for forged in (f"sekisho-atm:{session_id}:{'A' * 22}", f"sekisho-atm:atms_00000000000000000000000000:{secret}"):
        refused = await withdraw(system, sms, customer, forged, 10_000)
        assert (refused.status_code, refused.json()["code"]) == (422, "qr_invalid"), refused.text
    over = await withdraw(system, sms, customer, opened["qr"], 500_001)
    assert (over.status_code, over.json()["code"]) == (409, "limit_exceeded"), over.text
    system.clock.advance(seconds=60)  # type: ignore[attr-defined]  # the gateway's 10 challenge calls a minute
    named = await withdraw(system, sms, customer, opened["qr"], 10_000, customer_id="cus_00000000000000000000000000")
    assert named.status_code == 422, named.text  # the customer is the one the gateway vouches for, never a field

    code_in(await withdraw(system, sms, customer, opened["qr"], 10_000))
    used = await withdraw(system, sms, customer, opened["qr"], 10_000)
    assert (used.status_code, used.json()["code"]) == (409, "session_used"), used.text
    assert (await account(system, customer))["held"] == 0  # a request holds nothing: only the ATM's authorize does

    late = await atm.open_session()
    system.clock.advance(seconds=301)  # type: ignore[attr-defined]
    customer.headers = await signed_in_again(system, sms, email=customer.email, phone=customer.phone)
    expired = await withdraw(system, sms, customer, late["qr"], 10_000)
    assert (expired.status_code, expired.json()["code"]) == (409, "session_expired"), expired.text
