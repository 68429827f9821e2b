"""Disputes and victim relief through the gateway (INC-7): a victim's declaration that they will not bear a fraudulent
debt leads, per the relief policy, to relief that zeroes what the fraud drew, the credit information it caused
flagged for deletion, and the customer told; nothing is relieved twice, and no one else sees or disputes it.

The fraudulent withdrawals and charges are made by tests/txn/fraud_postings.py's factories (standing in for the
completed withdrawal and charge that other parts of txn build); the rest goes through the public API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.txn import ledger
from tests.harness import System
from tests.servers import eventually, eventually_async
from tests.txn.conftest import Customer, set_credit_line, signed_in_customer
from tests.txn.fraud_postings import (
    BANK,
    balance,
    books_report,
    completed_charge,
    completed_repayment,
    completed_withdrawal,
    staff,
)

OTHER = {"email": "jiro.suzuki@example.jp", "phone": "080-2222-3333"}


async def victim_with_line(system: System, sms: SmsSink, limit: int = 300_000, **contacts: Any) -> Customer:
    customer = await signed_in_customer(system, sms, **contacts)
    await set_credit_line(system, customer.customer_id, limit)
    return customer


async def account(system: System, customer: Customer) -> dict[str, Any]:
    answered = await system.gateway.get("/v1/me/account", headers=customer.headers)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


async def transactions(system: System, customer: Customer) -> list[dict[str, Any]]:
    answered = await system.gateway.get("/v1/me/transactions", headers=customer.headers)
    assert answered.status_code == 200, answered.text
    listed: list[dict[str, Any]] = answered.json()["transactions"]
    return listed


async def dispute(system: System, customer: Customer, ids: list[str], **fields: Any) -> dict[str, Any]:
    body = {"transaction_ids": ids, "description": "ATMで出金した覚えがありません。スマホを盗まれました。", **fields}
    opened = await system.gateway.post("/v1/me/disputes", json=body, headers=customer.headers)
    assert opened.status_code == 201, opened.text
    answer: dict[str, Any] = opened.json()
    return answer


async def fraud_events(system: System, customer_id: str, type: str) -> list[dict[str, Any]]:
    analyst = await staff(system, "analyst")
    found = await system.gateway.get(
        "/v1/ops/fraud/events", params={"customer_id": customer_id, "type": type}, headers=analyst
    )
    assert found.status_code == 200, found.text
    events: list[dict[str, Any]] = found.json()["events"]
    return events


def subjects(smtp: SmtpSink, email: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.to(email)]


def body_of(smtp: SmtpSink, email: str, words: str) -> str:
    (message,) = [m for m in smtp.to(email) if words in str(m["Subject"])]
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.req("INC-7")
async def test_a_victims_declaration_leads_to_relief_that_zeroes_what_the_fraud_drew(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    victim = await victim_with_line(system, sms)
    own = await completed_withdrawal(system, victim.customer_id, 20_000)
    stolen = [await completed_withdrawal(system, victim.customer_id, amount) for amount in (50_000, 30_000)]
    assert (await account(system, victim))["outstanding"] == 100_000
    shown = {t["transaction_id"] for t in await transactions(system, victim)}
    assert set(stolen) | {own} <= shown  # the victim disputes what their own statement shows

    # The victim reports the two withdrawals and declares they will not bear the debt (INC-7).
    opened = await dispute(system, victim, stolen, declares_not_liable=True)
    declared_at = datetime.fromisoformat(opened["declared_at"])
    assert opened["status"] == "under_review"
    assert opened["amount"] == 80_000
    assert datetime.fromisoformat(opened["relief_due_at"]) == declared_at + timedelta(days=3)
    assert {r["kind"]: r["victim_bears"] for r in opened["relief_policy"]["rules"]} == {
        "withdrawal": "nothing",
        "charge": "nothing",
    }
    await eventually(lambda: any("お申し出を受け付けました" in s for s in subjects(smtp, victim.email)))

    # A supervisor applies the policy.
    supervisor = await staff(system, "supervisor")
    relieved = await system.gateway.post(
        f"/v1/ops/disputes/{opened['dispute_id']}/relief",
        json={"note": "ATM camera: not the customer"},
        headers=supervisor,
    )
    assert relieved.status_code == 200, relieved.text
    decided = relieved.json()
    assert (decided["status"], decided["relieved_amount"], decided["policy_version"]) == ("relieved", 80_000, 1)
    assert [t["relieved_amount"] for t in decided["transactions"]] == [50_000, 30_000]

    # What the fraud drew is gone from what the victim owes; their own withdrawal stays.
    after = await account(system, victim)
    assert (after["outstanding"], after["available"], after["wallet_balance"]) == (20_000, 280_000, 0)
    reliefs = [t for t in await transactions(system, victim) if t["kind"] == "relief"]
    assert sorted(t["amount"] for t in reliefs) == [30_000, 50_000]
    assert {t["transaction_id"] for t in reliefs} == {t["relief_transaction_id"] for t in decided["transactions"]}
    own_view = await system.gateway.get(f"/v1/me/disputes/{opened['dispute_id']}", headers=victim.headers)
    assert (own_view.json()["status"], own_view.json()["relieved_amount"]) == ("relieved", 80_000)
    assert [s["status"] for s in own_view.json()["history"]] == ["open", "under_review", "relieved"]

    # The credit information the fraud caused is deleted at the bureau (tests/txn/test_case_resolution.py); the
    # victim's own debt is not.
    analyst = await staff(system, "analyst")
    records = await system.gateway.get(
        "/v1/ops/credit-information", params={"customer_id": victim.customer_id}, headers=analyst
    )
    assert records.status_code == 200, records.text
    by_posting = {r["transaction_id"]: r for r in records.json()["records"]}
    assert by_posting[own]["status"] == "reported"
    for posting_id in stolen:
        assert by_posting[posting_id]["status"] == "deleted"
        assert by_posting[posting_id]["deletion_dispute_id"] == opened["dispute_id"]
    assert sorted(decided["credit_information_deletion_requested"]) == sorted(
        by_posting[p]["record_id"] for p in stolen
    )

    # The victim is told, with the amount; fraud hears of the dispute and of the relief.
    await eventually(lambda: any("補償について" in s for s in subjects(smtp, victim.email)))
    told = body_of(smtp, victim.email, "補償について")
    assert "80,000円" in told
    assert "信用情報の削除" in told

    async def fraud_heard() -> bool:
        return bool(await fraud_events(system, victim.customer_id, "relief_applied"))

    await eventually_async(fraud_heard)
    (event,) = await fraud_events(system, victim.customer_id, "relief_applied")
    assert (event["data"]["amount"], event["data"]["dispute_id"]) == (80_000, opened["dispute_id"])
    (event,) = await fraud_events(system, victim.customer_id, "dispute_opened")
    assert event["data"]["transaction_ids"] == stolen

    # The books balance: the company bears the loss; the partner who paid the cash out is still owed it.
    report = await books_report(system)
    assert report.balanced, report.problems
    assert report.by_kind["relief"] == 80_000
    assert await balance(system, ledger.FRAUD_RELIEF) == 80_000


async def test_relief_twice_moves_nothing_twice(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 40_000)
    opened = await dispute(system, victim, [stolen], declares_not_liable=True)
    supervisor = await staff(system, "supervisor")
    relief = f"/v1/ops/disputes/{opened['dispute_id']}/relief"

    # Two supervisors press the button at once: one relieves, the other is told it changed.
    both = await asyncio.gather(*(system.gateway.post(relief, json={}, headers=supervisor) for _ in range(2)))
    assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]
    (refused,) = [r for r in both if r.status_code == 409]
    assert refused.json()["code"] == "illegal_transition"
    again = await system.gateway.post(relief, json={}, headers=supervisor)
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")

    # Nor through a second dispute naming the same withdrawal.
    second = await system.gateway.post(
        "/v1/me/disputes",
        json={"transaction_ids": [stolen], "description": "again", "declares_not_liable": True},
        headers=victim.headers,
    )
    assert (second.status_code, second.json()["code"]) == (409, "already_disputed")
    assert second.json()["dispute_id"] == opened["dispute_id"]

    assert (await account(system, victim))["outstanding"] == 0
    assert [t["amount"] for t in await transactions(system, victim) if t["kind"] == "relief"] == [40_000]
    report = await books_report(system)
    assert report.balanced, report.problems
    assert report.by_kind["relief"] == 40_000


async def test_relief_returns_what_the_victim_already_repaid_and_never_owes_below_zero(
    system: System, sms: SmsSink
) -> None:
    """A victim who paid back part of a fraudulent withdrawal before reporting it gets that part back in the wallet:
    relief credits the line only with what is still owed, never more than the withdrawal drew."""
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 60_000)
    repaid = await completed_repayment(system, victim.customer_id, 25_000)
    assert (await account(system, victim))["outstanding"] == 35_000
    opened = await dispute(system, victim, [stolen], declares_not_liable=True)
    assert repaid not in {t["transaction_id"] for t in opened["transactions"]}

    supervisor = await staff(system, "supervisor")
    relieved = await system.gateway.post(f"/v1/ops/disputes/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert relieved.json()["relieved_amount"] == 60_000
    after = await account(system, victim)
    assert (after["outstanding"], after["wallet_balance"]) == (0, 25_000)
    report = await books_report(system)
    assert report.balanced, report.problems


async def test_a_charge_through_a_fraudulent_link_is_refunded_to_the_bank(system: System, sms: SmsSink) -> None:
    """The Docomo-account case: the victim's bank account was charged into a wallet. Relief refunds the bank in full;
    what the fraud put in the wallet and is still there goes towards it, and the victim's own money stays."""
    victim = await victim_with_line(system, sms)
    await completed_charge(system, victim.customer_id, 10_000, bank_code="0001")  # the victim's own, earlier
    stolen = await completed_charge(system, victim.customer_id, 50_000)
    assert (await account(system, victim))["wallet_balance"] == 60_000
    bank_before = await balance(system, ledger.bank_account(BANK))

    opened = await dispute(system, victim, [stolen], declares_not_liable=True)
    supervisor = await staff(system, "supervisor")
    relieved = await system.gateway.post(f"/v1/ops/disputes/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert relieved.json()["relieved_amount"] == 50_000

    assert await balance(system, ledger.bank_account(BANK)) == bank_before - 50_000  # owed back to the bank
    assert (await account(system, victim))["wallet_balance"] == 10_000
    assert await balance(system, ledger.FRAUD_RELIEF) == 0  # none of it was spent: nothing for the company to bear
    report = await books_report(system)
    assert report.balanced, report.problems


async def test_another_customer_can_neither_see_nor_dispute_it(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 30_000)
    opened = await dispute(system, victim, [stolen])
    intruder = await victim_with_line(system, sms, **OTHER)
    own = await completed_withdrawal(system, intruder.customer_id, 10_000)

    for ids in ([stolen], [own, stolen]):
        refused = await system.gateway.post(
            "/v1/me/disputes",
            json={"transaction_ids": ids, "description": "not mine", "declares_not_liable": True},
            headers=intruder.headers,
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "not_found"), refused.text
    unknown = await system.gateway.get("/v1/me/disputes/dsp_00000000000000000000000000", headers=intruder.headers)
    for path in (f"/v1/me/disputes/{opened['dispute_id']}",):
        seen = await system.gateway.get(path, headers=intruder.headers)
        assert (seen.status_code, seen.json()["code"]) == (404, "not_found")
        assert seen.json()["detail"] == unknown.json()["detail"]  # the same answer as for no dispute at all
    declared = await system.gateway.post(
        f"/v1/me/disputes/{opened['dispute_id']}/declaration", json={}, headers=intruder.headers
    )
    assert declared.status_code == 404
    listed = await system.gateway.get("/v1/me/disputes", headers=intruder.headers)
    assert listed.json()["disputes"] == []

    # The victim's dispute is untouched: still open, with no declaration.
    view = await system.gateway.get(f"/v1/me/disputes/{opened['dispute_id']}", headers=victim.headers)
    assert (view.json()["status"], view.json()["declared_at"]) == ("open", None)


async def test_only_what_the_policy_covers_can_be_disputed(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    repaid = await completed_repayment(system, victim.customer_id, 5_000)
    refused = await system.gateway.post(
        "/v1/me/disputes", json={"transaction_ids": [repaid], "description": "x"}, headers=victim.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "not_disputable")
    stolen = await completed_withdrawal(system, victim.customer_id, 5_000)
    for body in (
        {"transaction_ids": [stolen, stolen], "description": "twice"},
        {"transaction_ids": [], "description": "none"},
        {"transaction_ids": [stolen], "description": ""},
        {"transaction_ids": [stolen], "description": "x", "customer_id": "cus_00000000000000000000000000"},
    ):
        invalid = await system.gateway.post("/v1/me/disputes", json=body, headers=victim.headers)
        assert invalid.status_code == 422, (body, invalid.text)
    assert (await system.gateway.get("/v1/me/disputes", headers=victim.headers)).json()["disputes"] == []


async def test_relief_follows_the_declaration_which_the_victim_can_make_later(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 70_000)
    opened = await dispute(system, victim, [stolen])
    assert (opened["status"], opened["declared_at"], opened["relief_due_at"]) == ("open", None, None)
    supervisor = await staff(system, "supervisor")
    relief = f"/v1/ops/disputes/{opened['dispute_id']}/relief"
    early = await system.gateway.post(relief, json={}, headers=supervisor)
    assert (early.status_code, early.json()["code"]) == (409, "declaration_required")
    assert (await account(system, victim))["outstanding"] == 70_000

    system.clock.advance(seconds=300)  # type: ignore[attr-defined]
    declared = await system.gateway.post(
        f"/v1/me/disputes/{opened['dispute_id']}/declaration", json={}, headers=victim.headers
    )
    assert declared.status_code == 200, declared.text
    assert declared.json()["status"] == "under_review"
    assert datetime.fromisoformat(declared.json()["declared_at"]) == system.clock.now()
    twice = await system.gateway.post(
        f"/v1/me/disputes/{opened['dispute_id']}/declaration", json={}, headers=victim.headers
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "already_declared")

    relieved = await system.gateway.post(relief, json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert (await account(system, victim))["outstanding"] == 0
