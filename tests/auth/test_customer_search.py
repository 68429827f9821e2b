"""Staff find a customer by e-mail address or phone number (the consultation desk): masked results, by blind index,
audited with who was found and never with what was typed."""

from __future__ import annotations

import pytest

from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_audit import _bearer, _trail
from tests.harness import System

SEARCH = "/v1/ops/customers/search"


@pytest.mark.req("DATA-1")
async def test_a_customer_is_found_by_email_or_any_form_of_phone_masked_and_the_search_is_audited_without_the_value(
    system: System,
) -> None:
    customer_id = await open_account(system.gateway)
    sibling_id = await open_account(system.gateway, email="jiro.sato@example.jp")  # the same family phone
    stranger_id = await open_account(system.gateway, email="ken.ito@example.jp", phone="080-1111-2222")
    analyst_id, analyst = await _bearer(system, "analyst.desk", "analyst")
    _, admin = await _bearer(system, "admin.desk", "admin")

    by_email = await system.gateway.post(SEARCH, json={"email": "  Hanako.Sato@Example.JP "}, headers=analyst)
    assert by_email.status_code == 200, by_email.text
    (found,) = by_email.json()["customers"]
    assert found["customer_id"] == customer_id
    assert found["kyc_status"] == "unverified"
    assert found["email"] != CUSTOMER["email"]
    assert "*" in found["email"]
    assert "*" in found["phone"]
    assert "1234-5678" not in by_email.text

    for phone in ("+819012345678", "09012345678", "090-1234-5678"):
        by_phone = await system.gateway.post(SEARCH, json={"phone": phone}, headers=analyst)
        assert by_phone.status_code == 200, by_phone.text
        assert {c["customer_id"] for c in by_phone.json()["customers"]} == {customer_id, sibling_id}
    nobody = await system.gateway.post(SEARCH, json={"email": "nobody@example.jp"}, headers=analyst)
    assert nobody.json() == {"customers": []}

    entries = await _trail(system, admin, actor=analyst_id, action="customer.search")
    assert len(entries) == 5
    assert [e["detail"]["by"] for e in reversed(entries)] == ["email", "phone", "phone", "phone", "email"]
    assert entries[-1]["detail"]["customers"] == [customer_id]
    assert entries[0]["detail"]["customers"] == []
    trail_text = str(entries)
    for typed in ("hanako", "Hanako", "example.jp", "9012345678", "1234"):
        assert typed not in trail_text
    # The customer's own trail shows that staff found them, and the stranger's shows nothing.
    assert len(await _trail(system, admin, customer_id=customer_id, action="customer.search")) == 4
    assert await _trail(system, admin, customer_id=stranger_id, action="customer.search") == []


async def test_a_bad_search_is_refused_with_a_problem_and_recorded_nowhere(system: System) -> None:
    analyst_id, analyst = await _bearer(system, "analyst.bad", "analyst")
    _, admin = await _bearer(system, "admin.bad", "admin")
    for body in (
        {},
        {"email": "hanako.sato@example.jp", "phone": "090-1234-5678"},
        {"email": "not-an-address"},
        {"phone": "12"},
        {"email": "hanako.sato@example.jp", "name": "佐藤"},
    ):
        refused = await system.gateway.post(SEARCH, json=body, headers=analyst)
        assert refused.status_code == 422, body
        assert refused.json()["code"] == "validation_failed"
    assert await _trail(system, admin, actor=analyst_id, action="customer.search") == []
    # No staff token, a customer's token, a GET with the value in the URL: none is a search.
    assert (await system.gateway.post(SEARCH, json={"email": "hanako.sato@example.jp"})).status_code == 401
    assert (await system.gateway.get(SEARCH, params={"email": "x@example.jp"}, headers=analyst)).status_code in (
        404,
        405,
    )
