"""kyc's side of KYC-4: txn asks `POST /internal/identity-matches` whether a bank account's holder is the customer kyc
verified. The customer here is verified by a real postal proofing through the gateway; txn's call is made the way
txn will make it, with txn's own signed identity, straight to kyc's app. No `req("KYC-4")` marker: the requirement
is proven only when txn's bank link uses this through the public API (issue 15).
"""

from __future__ import annotations

from typing import Any

import httpx

from sekisho.sinks import SmsSink
from shared.contracts.identity import IdentityMatch, IdentityMatchRequest
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, open_account
from tests.harness import System, client_for, identity_issuer
from tests.kyc.conftest import ADDRESS, kyc_messages, signed_in_again, start
from tests.kyc.test_api_postal import mailed_code

PATH = "/internal/identity-matches"


async def verified_customer(system: System, sms: SmsSink) -> tuple[str, str]:
    """A customer (CUSTOMER's name サトウ ハナコ, born 1990-04-12) approved by the postal code: their id and case."""
    customer_id = await open_account(system.gateway, address=ADDRESS)
    headers = await signed_in_again(system, sms)
    started = await start(system, headers, {"method": "postal"})
    assert started.status_code == 202, started.text
    verification_id: str = started.json()["verification_id"]
    entered = await system.gateway.post(
        f"/v1/kyc/verifications/{verification_id}/postal-code",
        json={"code": await mailed_code(system)},
        headers=headers,
    )
    assert (entered.status_code, entered.json()["status"]) == (200, "approved"), entered.text
    return customer_id, verification_id


async def ask(system: System, body: dict[str, Any], *, caller: str = "txn") -> httpx.Response:
    token = identity_issuer(caller, system.clock).issue("kyc")
    async with client_for(system.apps["kyc"]) as client:
        return await client.post(PATH, json=body, headers={IDENTITY_HEADER: token})


async def match(system: System, customer_id: str, kana: str, birth_date: str | None = None) -> IdentityMatch:
    request = IdentityMatchRequest.model_validate(
        {"customer_id": customer_id, "holder_kana": kana, "holder_birth_date": birth_date}
    )
    response = await ask(system, request.model_dump(mode="json"))
    assert response.status_code == 200, response.text
    return IdentityMatch.model_validate(response.json())


async def match_events(system: System) -> list[dict[str, Any]]:
    return [m for m in await kyc_messages(system, "fraud") if m["type"] == "kyc_identity_match"]


async def test_the_verified_holder_matches_however_the_bank_writes_the_kana(system: System, sms: SmsSink) -> None:
    customer_id, verification_id = await verified_customer(system, sms)
    variants = ["サトウ ハナコ", "ｻﾄｳ ﾊﾅｺ", "さとう　はなこ", "サトウハナコ", "サトウ・ハナコ", " ｻﾄｳ  ﾊﾅｺ "]
    for kana in variants:
        answer = await match(system, customer_id, kana)
        assert answer == IdentityMatch(
            customer_id=customer_id,
            matched=True,
            verified=True,
            mismatches=[],
            verification_id=verification_id,
            method="postal",
        ), kana
    with_birth_date = await match(system, customer_id, "ｻﾄｳ ﾊﾅｺ", CUSTOMER["birth_date"])
    assert (with_birth_date.matched, with_birth_date.mismatches) == (True, [])

    events = await match_events(system)
    assert len(events) == len(variants) + 1  # every call, in the transaction of its answer
    assert all(e["customer_id"] == customer_id and e["data"]["matched"] is True for e in events)
    recorded = str(events)
    assert "ﾊﾅｺ" not in recorded
    assert "ハナコ" not in recorded
    assert CUSTOMER["birth_date"] not in recorded


async def test_another_name_or_birth_date_is_a_mismatch(system: System, sms: SmsSink) -> None:
    customer_id, _ = await verified_customer(system, sms)
    other_name = await match(system, customer_id, "ｻﾄｳ ﾊﾅｴ")
    assert (other_name.verified, other_name.matched, other_name.mismatches) == (True, False, ["name_kana"])
    other_birth = await match(system, customer_id, "ｻﾄｳ ﾊﾅｺ", "1991-04-12")
    assert (other_birth.matched, other_birth.mismatches) == (False, ["birth_date"])
    both = await match(system, customer_id, "ﾀﾅｶ ﾊﾅｺ", "1990-04-13")
    assert (both.matched, both.mismatches) == (False, ["name_kana", "birth_date"])
    corporate = await match(system, customer_id, "ｶ)ｻﾄｳ ﾊﾅｺ")  # a business's account is not the person's
    assert corporate.mismatches == ["name_kana"]
    # The answer never tells txn what the verified identity is: only which attributes disagree.
    response = await ask(system, {"customer_id": customer_id, "holder_kana": "ﾀﾅｶ ﾊﾅｺ"})
    assert "ｻﾄｳ" not in response.text
    assert "サトウ" not in response.text
    assert "1990" not in response.text

    events = await match_events(system)
    # The outbox has no order to read back in (a relayed row moves on PostgreSQL): compare as sorted.
    assert sorted(e["data"]["mismatches"] for e in events) == sorted(
        [["name_kana"], ["birth_date"], ["name_kana", "birth_date"], ["name_kana"], ["name_kana"]]
    )
    assert {e["outcome"] for e in events} == {"mismatch"}
    assert "ﾀﾅｶ" not in str(events)
    assert "1991-04-12" not in str(events)


async def test_an_unverified_customer_is_not_verified(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway, address=ADDRESS)
    for who in (customer_id, "cus_nobody"):
        answer = await match(system, who, CUSTOMER["name_kana"], CUSTOMER["birth_date"])
        assert answer == IdentityMatch(customer_id=who, matched=False, verified=False, mismatches=[])
    events = await match_events(system)
    assert [(e["outcome"], e["data"]["verified"]) for e in events] == [("unverified", False)] * 2


async def test_only_txn_may_ask(system: System) -> None:
    body = {"customer_id": "cus_x", "holder_kana": "ｻﾄｳ ﾊﾅｺ"}
    for caller in ("gateway", "auth", "fraud", "notify"):
        refused = await ask(system, body, caller=caller)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), caller
    async with client_for(system.apps["kyc"]) as client:
        anonymous = await client.post(PATH, json=body)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "service_identity_required")
    invalid = await ask(system, {"customer_id": "cus_x", "holder_kana": ""})
    assert invalid.status_code == 422
    assert await match_events(system) == []  # a refused call is not a match


async def test_no_public_route_reaches_it(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway, address=ADDRESS)
    headers = await signed_in_again(system, sms)
    body = {"customer_id": customer_id, "holder_kana": "ｻﾄｳ ﾊﾅｺ"}
    for path in (PATH, "/v1/kyc/identity-matches", "/v1/internal/identity-matches"):
        for extra in ({}, headers):
            answer = await system.gateway.post(path, json=body, headers=extra)
            assert answer.status_code == 404, (path, answer.text)
    assert await match_events(system) == []
