"""Bank links through the gateway (API.md `POST /v1/bank-links`): only for the verified customer who holds the
account (KYC-4), with a possession step-up for the link (LINK-1), told at the contacts registered before it (LINK-2).
The customers here are verified by a real eKYC approval, so kyc holds the identity the bank's holder is matched
against; the bank is txn's simulator."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.txn import models
from shared.contracts.scoring import ScoreRequest
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER
from tests.harness import System, client_for, identity_issuer
from tests.servers import eventually, eventually_async
from tests.txn.banking import (
    bank_account,
    e164,
    fraud_events,
    grant_for,
    link,
    linked,
    sign_in_again,
    simulator,
    stepped_up,
    txn_rows,
    verified_customer,
)
from tests.txn.conftest import signed_in_customer


def link_notices(smtp: SmtpSink, address: str) -> list[str]:
    return [m.get_content() for m in smtp.to(address) if "口座連携のお知らせ" in (m["Subject"] or "")]


@pytest.mark.req("KYC-4")
async def test_an_account_is_linked_only_when_the_bank_holder_is_the_verified_customer(
    system: System, sms: SmsSink
) -> None:
    customer = await verified_customer(system, sms)
    own = bank_account(system, account_number="1111111")
    # Another person's account, named correctly: the customer knows whose it is, but is not them.
    others = bank_account(
        system, account_number="2222222", holder_kana="ﾀﾅｶ ｲﾁﾛｳ", birth_date=None, claimed_kana="タナカ イチロウ"
    )
    # Another サトウ ハナコ: the same name, born on another day (the bank gives the birth date).
    namesake = bank_account(system, account_number="3333333", birth_date=date(1991, 4, 12))
    # The customer's own name typed, but the bank's holder is someone else.
    claimed = bank_account(system, account_number="4444444", holder_kana="ﾀﾅｶ ｲﾁﾛｳ", birth_date=None)

    for body in (others, namesake, claimed):
        refused = await link(system, sms, customer, body)
        assert (refused.status_code, refused.json()["code"]) == (422, "holder_mismatch"), refused.text
        assert "ﾀﾅｶ" not in refused.text  # nothing says whose account it is
        assert "タナカ" not in refused.text

    made = await link(system, sms, customer, own)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "active"
    assert made.json()["account_last4"] == "1111"
    assert "1111111" not in made.text

    rows = await txn_rows(system, models.bank_link)
    assert [(r.id, r.status) for r in rows] == [(made.json()["link_id"], "active")]  # nothing else was stored
    assert (rows[0].kyc_method, rows[0].rules_version) == ("ekyc", 2)
    assert rows[0].kyc_verification_id is not None
    refusals = await fraud_events(system, "bank_link_refused")
    assert [e["outcome"] for e in refusals] == ["holder_mismatch"] * 3
    assert all(e["customer_id"] == customer.customer_id and len(e["data"]["bank_account"]) == 64 for e in refusals)
    assert "2222222" not in str(refusals)
    assert "ﾀﾅｶ" not in str(refusals)
    [linked_event] = await fraud_events(system, "bank_account_linked")
    assert linked_event["data"]["bank_account"] == rows[0].account_digest
    assert linked_event["data"]["link_id"] == made.json()["link_id"]
    # Each bank hears of every link made or refused on its accounts, and tells its depositor (who may be no customer).
    reports = [(r.account.account_number, r.outcome) for r in simulator(system).link_reports]
    assert reports == [
        ("2222222", "refused_holder_mismatch"),
        ("3333333", "refused_holder_mismatch"),
        ("4444444", "refused_holder_mismatch"),
        ("1111111", "linked"),
    ]


@pytest.mark.req("LINK-1")
async def test_a_link_needs_a_possession_step_up_for_it_and_a_password_alone_never_suffices(
    system: System, sms: SmsSink
) -> None:
    customer = await verified_customer(system, sms)
    await sign_in_again(system, sms, customer)  # a device signed in before: the password alone (knowledge)
    body = bank_account(system, account_number="1234567")
    other = bank_account(system, account_number="7654321")

    bare = await system.gateway.post("/v1/bank-links", json=body, headers=customer.headers)
    assert (bare.status_code, bare.json()["code"]) == (401, "step_up_required"), bare.text
    challenge = bare.json()["challenge"]
    assert "email" not in challenge["methods"]  # an e-mail code is no possession factor for a link
    by_email = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert (by_email.status_code, by_email.json()["code"]) == (422, "method_not_allowed"), by_email.text
    assert not any("口座連携" in m.body for m in sms.received)

    # A grant proved for one account does not link another: it is bound to the four fields.
    grant = await grant_for(system, sms, customer, bare)
    swapped = await system.gateway.post(
        "/v1/bank-links", json=other, headers={**customer.headers, "Step-Up-Grant": grant}
    )
    assert (swapped.status_code, swapped.json()["code"]) == (401, "step_up_required"), swapped.text
    assert await txn_rows(system, models.bank_link) == []

    made = await link(system, sms, customer, body)
    assert made.status_code == 201, made.text
    [row] = await txn_rows(system, models.bank_link)
    assert (row.rules_version, row.possession_factor) == (2, "sms")
    assert row.holder_matched_at is not None


async def as_gateway(system: System, customer_id: str, body: dict[str, Any], **context: Any) -> Any:
    """Straight to txn, as a gateway that let the request through would send it: txn checks again itself."""
    identity = {"subject": customer_id, "subject_type": "customer", "operation": "bank_link", **context}
    token = identity_issuer("gateway", system.clock).issue("txn", identity)
    async with client_for(system.apps["txn"]) as txn:
        return await txn.post("/v1/bank-links", json=body, headers={IDENTITY_HEADER: token})


async def test_txn_itself_refuses_a_link_without_a_possession_step_up_or_verified_identity(
    system: System, sms: SmsSink
) -> None:
    verified = await verified_customer(system, sms)
    unverified = await signed_in_customer(system, sms, email="jiro@example.jp", phone="090-2222-3333")
    body = bank_account(system)
    at = int(system.clock.timestamp())
    for step_up in (
        None,
        {"class": "possession", "method": "email", "at": at},
        {"class": "knowledge", "method": "pwd", "at": at},
    ):
        context = {"step_up": step_up} if step_up else {}
        refused = await as_gateway(system, verified.customer_id, body, **context)
        assert (refused.status_code, refused.json()["code"]) == (403, "possession_required"), refused.text
    sms_step_up = {"class": "possession", "method": "sms", "at": at}
    refused = await as_gateway(system, unverified.customer_id, body, step_up=sms_step_up)
    assert (refused.status_code, refused.json()["code"]) == (403, "kyc_required"), refused.text
    assert await txn_rows(system, models.bank_link) == []


@pytest.mark.req("LINK-2")
async def test_the_link_notice_goes_to_the_contacts_registered_before_the_link(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    customer = await verified_customer(system, sms)
    # Someone in the customer's session asks to move the e-mail address to theirs: pending until the new address
    # proves itself with the code sent to it.
    changed = await stepped_up(system, sms, customer, "/v1/me", {"email": "taker@example.com"}, method="PATCH")
    assert changed.status_code == 200, changed.text
    assert changed.json()["pending"]["attribute"] == "email"

    made = await link(system, sms, customer, bank_account(system, account_number="1234567"))
    assert made.status_code == 201, made.text
    await eventually(lambda: len(link_notices(smtp, CUSTOMER["email"])) == 1)
    notice = link_notices(smtp, CUSTOMER["email"])[0]
    assert "****4567" in notice
    assert "1234567" not in notice
    await eventually(lambda: any("口座" in m.body and m.to == e164(customer.phone) for m in sms.received))
    assert link_notices(smtp, "taker@example.com") == []  # only the code that would prove the address went there

    # Once the taker proves the new address, the gateway's cool-off after a contact change keeps SMS codes from
    # linking anything for a day: only an authenticator app would do, and this customer has none.
    code = re.search(r"\b(\d{6})\b", smtp.to("taker@example.com")[0].get_content())
    assert code is not None
    proved = await system.gateway.post(
        f"/v1/me/contacts/{changed.json()['pending']['change_id']}/verify",
        json={"code": code.group(1)},
        headers=customer.headers,
    )
    assert proved.status_code == 200, proved.text
    again = await system.gateway.post(
        "/v1/bank-links", json=bank_account(system, account_number="7654321"), headers=customer.headers
    )
    assert (again.status_code, again.json()["code"]) == (403, "operation_denied"), again.text
    assert "contact_change_cool_off" in again.json()["reasons"]


async def test_the_same_account_twice_is_refused_and_another_customer_linking_it_is_a_fraud_signal(
    system: System, sms: SmsSink
) -> None:
    customer = await verified_customer(system, sms)
    body = bank_account(system)
    first = await linked(system, sms, customer, body)
    twice = await link(system, sms, customer, body)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_linked"), twice.text
    assert twice.json()["link_id"] == first

    # The same person with a second account (another e-mail and phone) links the same bank account: allowed, for
    # the holder is who kyc verified, but one account for many customers is what fraud's shared-account rule reads.
    second = await verified_customer(system, sms, email="hanako.2@example.jp", phone="090-8765-4321")
    made = await link(system, sms, second, body)
    assert made.status_code == 201, made.text
    events = await fraud_events(system, "bank_account_linked")
    assert [e["data"]["linked_by_other_customers"] for e in events] == [0, 1]
    digest = events[0]["data"]["bank_account"]
    assert events[1]["data"]["bank_account"] == digest
    system.clock.advance(seconds=1)  # type: ignore[attr-defined]  # fraud reads the events before the moment scored

    async def shared_account_seen() -> bool:
        token = identity_issuer("txn", system.clock).issue("fraud")
        request = ScoreRequest(operation="bank_link", customer_id=second.customer_id, bank_account=digest)
        async with client_for(system.apps["fraud"]) as fraud:
            scored = await fraud.post(
                "/score", json=request.model_dump(exclude_none=True), headers={IDENTITY_HEADER: token}
            )
        assert scored.status_code == 200, scored.text
        return any(reason["rule"] == "shared_bank_account" for reason in scored.json()["reasons"])

    await eventually_async(shared_account_seen)


async def test_the_same_account_linked_twice_at_once_makes_one_link(roomy_system: System, sms: SmsSink) -> None:
    system = roomy_system
    customer = await verified_customer(system, sms)
    body = bank_account(system)
    grants = []
    for _ in range(3):
        challenged = await system.gateway.post("/v1/bank-links", json=body, headers=customer.headers)
        grants.append(await grant_for(system, sms, customer, challenged))
    answers = await asyncio.gather(
        *(
            system.gateway.post("/v1/bank-links", json=body, headers={**customer.headers, "Step-Up-Grant": grant})
            for grant in grants
        )
    )
    outcomes = sorted((a.status_code, a.json().get("code", "")) for a in answers)
    assert outcomes == [(201, ""), (409, "already_linked"), (409, "already_linked")], [a.text for a in answers]
    assert len(await txn_rows(system, models.bank_link)) == 1
    assert len(await fraud_events(system, "bank_account_linked")) == 1


async def test_an_unknown_account_and_malformed_numbers_are_refused_with_what_is_wrong(
    system: System, sms: SmsSink
) -> None:
    customer = await verified_customer(system, sms)
    unknown = await link(system, sms, customer, {**bank_account(system), "account_number": "9999999"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "bank_account_not_found"), unknown.text
    malformed = {"bank_code": "12", "branch_code": "1234", "account_number": "12a4567", "holder_kana": ""}
    invalid = await link(system, sms, customer, malformed)
    assert (invalid.status_code, invalid.json()["code"]) == (422, "validation_failed"), invalid.text
    fields = sorted(v["field"] for v in invalid.json()["violations"])
    assert fields == ["account_number", "bank_code", "branch_code", "holder_kana"]
    assert await txn_rows(system, models.bank_link) == []
    assert [e["outcome"] for e in await fraud_events(system, "bank_link_refused")] == ["bank_account_not_found"]
