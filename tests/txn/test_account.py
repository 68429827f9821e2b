"""The customer's account (API.md `GET /v1/me/account`, `GET /v1/me/transactions`) and the credit line staff set."""

from __future__ import annotations

from sekisho.sinks import SmsSink
from tests.harness import System
from tests.kyc.conftest import staff_headers
from tests.txn.conftest import set_credit_line, signed_in_customer


async def test_a_new_customer_has_an_empty_account_until_a_supervisor_sets_the_line(
    system: System, sms: SmsSink
) -> None:
    customer = await signed_in_customer(system, sms)
    empty = await system.gateway.get("/v1/me/account", headers=customer.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"credit_limit": 0, "outstanding": 0, "held": 0, "available": 0, "wallet_balance": 0}

    first = await set_credit_line(system, customer.customer_id, 300_000)
    assert (first["limit"], first["previous_limit"], first["version"]) == (300_000, None, 1)
    second = await set_credit_line(system, customer.customer_id, 200_000)
    assert (second["limit"], second["previous_limit"], second["version"]) == (200_000, 300_000, 2)

    account = await system.gateway.get("/v1/me/account", headers=customer.headers)
    assert account.json()["credit_limit"] == 200_000
    assert account.json()["available"] == 200_000
    transactions = await system.gateway.get("/v1/me/transactions", headers=customer.headers)
    assert transactions.status_code == 200, transactions.text
    assert transactions.json() == {"transactions": [], "next": None}


async def test_an_analyst_cannot_set_a_line_and_an_unknown_customer_is_a_404(system: System, sms: SmsSink) -> None:
    customer = await signed_in_customer(system, sms)
    analyst = await staff_headers(system, "analyst.line", "analyst")
    refused = await system.gateway.put(
        f"/v1/ops/customers/{customer.customer_id}/credit-line", json={"limit": 100_000}, headers=analyst
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    supervisor = await staff_headers(system, "supervisor.line", "supervisor")
    unknown = await system.gateway.put(
        "/v1/ops/customers/cus_00000000000000000000000000/credit-line", json={"limit": 100_000}, headers=supervisor
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found"), unknown.text
    negative = await system.gateway.put(
        f"/v1/ops/customers/{customer.customer_id}/credit-line", json={"limit": -1}, headers=supervisor
    )
    assert negative.status_code == 422
    account = await system.gateway.get("/v1/me/account", headers=customer.headers)
    assert account.json()["credit_limit"] == 0  # nothing the refused requests asked for happened
