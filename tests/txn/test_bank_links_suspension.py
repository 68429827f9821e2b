"""Per-bank suspension (LINK-4) through the gateway: a supervisor stops a bank's links and charges
(`PUT /v1/ops/banks/{bank_code}/suspension`), analysts see which banks are stopped, and lifting it lets charges
resume; every change is in the audit trail."""

from __future__ import annotations

import json

import pytest

from sekisho.sinks import SmsSink
from services.txn import models
from shared.ids import new_id
from shared.outbox import PAYLOAD_CONTEXT
from tests.harness import System
from tests.kyc.conftest import staff_headers
from tests.txn.banking import (
    bank_account,
    books_balance,
    charge,
    customer_with_link,
    link,
    refused,
    to_mid_month,
    txn_rows,
)


@pytest.mark.req("LINK-4")
async def test_a_suspended_bank_takes_no_new_link_and_no_charge_until_staff_lift_it(
    system: System, sms: SmsSink
) -> None:
    to_mid_month(system)
    customer, link_id, _ = await customer_with_link(system, sms)
    before = await charge(system, sms, customer, link_id, 10_000)
    assert before.status_code == 201, before.text

    supervisor = await staff_headers(system, new_id("sup")[:20], "supervisor")
    stopped = await system.gateway.put(
        "/v1/ops/banks/0001/suspension",
        json={"suspended": True, "reason": "the bank reported accounts opened with stolen identities"},
        headers=supervisor,
    )
    assert stopped.status_code == 200, stopped.text
    assert (stopped.json()["bank_code"], stopped.json()["suspended"]) == ("0001", True)

    refused(await charge(system, sms, customer, link_id, 10_000), "bank_suspended")
    same_bank = await link(system, sms, customer, bank_account(system, account_number="7654321"))
    assert (same_bank.status_code, same_bank.json()["code"]) == (409, "bank_suspended"), same_bank.text
    other_bank = await link(system, sms, customer, bank_account(system, bank_code="0005", account_number="7654321"))
    assert other_bank.status_code == 201, other_bank.text

    analyst = await staff_headers(system, new_id("ana")[:20], "analyst")
    listed = await system.gateway.get("/v1/ops/banks/suspensions", headers=analyst)
    assert listed.status_code == 200, listed.text
    assert [(s["bank_code"], s["suspended"]) for s in listed.json()["suspensions"]] == [("0001", True)]
    not_allowed = await system.gateway.put("/v1/ops/banks/0001/suspension", json={"suspended": False}, headers=analyst)
    assert (not_allowed.status_code, not_allowed.json()["code"]) == (403, "forbidden")

    lifted = await system.gateway.put("/v1/ops/banks/0001/suspension", json={"suspended": False}, headers=supervisor)
    assert (lifted.status_code, lifted.json()["suspended"]) == (200, False)
    after = await charge(system, sms, customer, link_id, 10_000)
    assert after.status_code == 201, after.text
    await books_balance(system)

    state = system.apps["txn"].state.service
    audited = [
        json.loads(state.cipher.open(row.payload, context=PAYLOAD_CONTEXT))
        for row in await txn_rows(system, models.outbox)
        if row.destination == "auth"
    ]
    changes = [(e["action"], e["target_id"], e["detail"]["suspended"]) for e in audited]
    assert changes == [("bank.suspension_set", "0001", True), ("bank.suspension_set", "0001", False)]


async def test_a_bank_code_that_is_not_four_digits_is_refused(system: System) -> None:
    supervisor = await staff_headers(system, new_id("sup")[:20], "supervisor")
    for code in ("12", "00001", "abcd"):
        answered = await system.gateway.put(
            f"/v1/ops/banks/{code}/suspension", json={"suspended": True}, headers=supervisor
        )
        assert (answered.status_code, answered.json()["code"]) == (422, "validation_failed"), answered.text
    assert await txn_rows(system, models.bank_suspension) == []
