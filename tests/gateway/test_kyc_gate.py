"""KYC-2 at the gateway: no money moves and no bank account is linked for an unverified identity.

auth keeps the customer's KYC status (services/auth/kyc_status.py), set only by the kyc service
(`PUT /internal/customers/{id}/kyc`); the gateway reads it with its session check, afresh for the operations whose
policy has `kyc_required`. The money routes belong to txn, which checks again on its own (tests/txn): what matters
here is the gateway's decision before anything is forwarded. A recorder between the gateway and txn notes what reached
txn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.gateway.policy import SHIPPED_POLICY, load_policy
from services.gateway.step_up import key_fields_digest
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, SIGNING_KEY
from tests.auth.test_api_login import DEVICE, full_login, grant_by_sms, login
from tests.auth.test_staff import make_staff, staff_token
from tests.gateway.test_step_up import Recorder, allowing_system
from tests.harness import Backend, System, client_for, identity_issuer
from tests.servers import eventually, eventually_async

# The customer's money routes (API.md) and a body of each, with the operation the gateway's policy knows them by.
MONEY: dict[str, tuple[str, dict[str, Any]]] = {
    "withdrawal": ("/v1/withdrawals", {"qr": "sekisho-atm:AT0001:8f2c", "amount": 20000}),
    "charge": ("/v1/charges", {"link_id": "lnk_0001", "amount": 5000}),
    "bank_link": (
        "/v1/bank-links",
        {"bank_code": "0001", "branch_code": "123", "account_number": "1234567", "holder_kana": "サトウ ハナコ"},
    ),
}
SHIPPED = load_policy(SHIPPED_POLICY)


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with allowing_system(backend, overrides) as running:
        yield running


def txn_saw(system: System) -> list[tuple[str, str]]:
    recorder: Recorder = system.txn  # type: ignore[attr-defined]
    return recorder.public


def bearer(tokens: dict[str, object], **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}", **more}


async def open_unverified(system: System) -> str:
    opened = await system.gateway.post("/v1/accounts", json=CUSTOMER)
    assert opened.status_code == 201, opened.text
    assert opened.json()["kyc_status"] == "unverified"
    customer_id: str = opened.json()["customer_id"]
    return customer_id


async def put_kyc(
    system: System, customer_id: str, verification_id: str, *, status: str = "verified", caller: str = "kyc"
) -> httpx.Response:
    """What the kyc service sends on approval (services/kyc/clients.py), here signed with `caller`'s key."""
    token = identity_issuer(caller, system.clock).issue("auth")
    body = {"status": status, "verification_id": verification_id, "method": "ekyc", "reason": "approved"}
    async with client_for(system.apps["auth"]) as auth:
        return await auth.put(f"/internal/customers/{customer_id}/kyc", json=body, headers={IDENTITY_HEADER: token})


async def fresh_grant(system: System, sms: SmsSink, customer_id: str, operation: str) -> str:
    """A real step-up grant for the operation and this very body: a challenge as the gateway would ask auth for it,
    answered with the SMS code like any other. (The gateway itself asks none for an unverified customer.)"""
    _, body = MONEY[operation]
    digest = key_fields_digest(SHIPPED.operations[operation], body, b"")
    token = identity_issuer("gateway", system.clock).issue("auth")
    async with client_for(system.apps["auth"]) as auth:
        created = await auth.post(
            "/internal/step-up/challenges",
            json={"customer_id": customer_id, "operation": operation, "fields_digest": digest, "methods": ["sms"]},
            headers={IDENTITY_HEADER: token},
        )
    assert created.status_code == 201, created.text
    return await grant_by_sms(system, sms, created.json()["id"])


async def kyc_status_of(system: System, tokens: dict[str, object]) -> str:
    me = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    status: str = me.json()["kyc_status"]
    return status


@pytest.mark.req("KYC-2")
async def test_an_unverified_customer_moves_no_money_and_links_no_bank_account_until_verified(
    system: System, sms: SmsSink
) -> None:
    customer_id = await open_unverified(system)
    tokens = await full_login(system, sms)  # password and SMS: MFA
    grants = {operation: await fresh_grant(system, sms, customer_id, operation) for operation in MONEY}
    for operation, (path, body) in MONEY.items():
        refused = await system.gateway.post(
            path, json=body, headers=bearer(tokens, **{"Step-Up-Grant": grants[operation]})
        )
        assert refused.status_code == 403, (operation, refused.text)
        assert refused.json()["code"] == "kyc_required"
        assert refused.json()["reasons"] == ["kyc_required"]
    assert txn_saw(system) == []
    assert await kyc_status_of(system, tokens) == "unverified"  # the gateway's 5 s belief is now "unverified"

    approved = await put_kyc(system, customer_id, "kyv_first")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "verified"
    assert approved.json()["verified_at"] is not None

    # At once (the clock has not moved): the same requests with the same, unspent grants pass the gateway.
    for operation, (path, body) in MONEY.items():
        passed = await system.gateway.post(
            path, json=body, headers=bearer(tokens, **{"Step-Up-Grant": grants[operation]})
        )
        assert passed.json().get("code") != "kyc_required", (operation, passed.text)
        assert ("POST", path) in txn_saw(system)
    assert await kyc_status_of(system, tokens) == "verified"


async def test_a_verified_customer_still_steps_up_for_money(system: System, sms: SmsSink) -> None:
    customer_id = await open_unverified(system)
    tokens = await full_login(system, sms)
    assert (await put_kyc(system, customer_id, "kyv_first")).status_code == 200
    for path, body in MONEY.values():
        asked = await system.gateway.post(path, json=body, headers=bearer(tokens))
        assert asked.status_code == 401, asked.text
        assert asked.json()["code"] == "step_up_required"
    assert txn_saw(system) == []


async def test_an_address_change_after_verification_sends_the_customer_back_to_kyc(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    customer_id = await open_unverified(system)
    tokens = await full_login(system, sms)
    assert (await put_kyc(system, customer_id, "kyv_first")).status_code == 200
    path, body = MONEY["withdrawal"]
    assert (await system.gateway.post(path, json=body, headers=bearer(tokens))).json()["code"] == "step_up_required"

    change = {"address": "大阪府大阪市北区梅田3-1-1"}
    changed = await system.gateway.patch("/v1/me", json=change, headers=bearer(tokens))
    if changed.status_code == 401:  # the policy may step the change up: answer it
        grant = await grant_by_sms(system, sms, changed.json()["challenge"]["id"])
        changed = await system.gateway.patch("/v1/me", json=change, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert changed.status_code == 200, changed.text
    assert await kyc_status_of(system, tokens) == "reverification_required"
    for operation, (path, body) in MONEY.items():
        refused = await system.gateway.post(path, json=body, headers=bearer(tokens))
        assert (refused.status_code, refused.json()["code"]) == (403, "kyc_required"), operation
    # The customer is told, in the attribute_changed notice itself.
    await eventually(lambda: any("本人確認のやり直し" in m.get_content() for m in smtp.to(CUSTOMER["email"])))

    # The old approval delivered again does not undo the re-verification; a new proof does.
    again = await put_kyc(system, customer_id, "kyv_first")
    assert (again.status_code, again.json()["status"]) == (200, "reverification_required")
    assert (await system.gateway.post(path, json=body, headers=bearer(tokens))).json()["code"] == "kyc_required"
    assert (await put_kyc(system, customer_id, "kyv_second")).json()["status"] == "verified"
    assert (await system.gateway.post(path, json=body, headers=bearer(tokens))).json()["code"] == "step_up_required"
    assert txn_saw(system) == []


async def test_verification_lifts_a_hard_lock_once(system: System, sms: SmsSink) -> None:
    customer_id = await open_unverified(system)
    await full_login(system, sms)  # the device is the customer's own from now on: its failures are "known"
    for round in range(2):  # five failures lock for a while; five more, after the wait, lock for good
        answers = [(await login(system.gateway, password=f"Wrong-Pass-{round}-{i}!")).status_code for i in range(5)]
        assert answers == [401, 401, 401, 401, 423]
        system.clock.advance(minutes=16)  # type: ignore[attr-defined]
    locked = await login(system.gateway)
    assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")
    assert locked.json()["locked_until"] is None  # hard: no wait lifts it
    system.clock.advance(hours=2)  # type: ignore[attr-defined]
    assert (await login(system.gateway)).status_code == 423

    verified = await put_kyc(system, customer_id, "kyv_unlock")
    assert verified.status_code == 200, verified.text
    assert (verified.json()["status"], verified.json()["hard_lock_lifted"]) == ("verified", True)
    first_at = verified.json()["verified_at"]
    unlocked = await login(system.gateway, device=DEVICE)
    assert unlocked.status_code != 423, unlocked.text
    assert unlocked.status_code in (200, 401)
    assert unlocked.json().get("code") in (None, "mfa_required")

    system.clock.advance(minutes=5)  # type: ignore[attr-defined]
    repeated = await put_kyc(system, customer_id, "kyv_unlock")  # a redelivery changes nothing more
    assert repeated.status_code == 200
    assert repeated.json() == {**verified.json(), "hard_lock_lifted": False, "verified_at": first_at}


async def test_only_kyc_sets_the_status_and_no_public_route_reaches_it(system: System, sms: SmsSink) -> None:
    customer_id = await open_unverified(system)
    tokens = await full_login(system, sms)
    for caller in ("gateway", "fraud", "txn", "notify"):
        refused = await put_kyc(system, customer_id, f"kyv_{caller}", caller=caller)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), caller
    unknown = await put_kyc(system, "cus_nobody", "kyv_nobody")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "customer_not_found")
    too_long = await put_kyc(system, customer_id, "k" * 41)
    assert too_long.status_code == 422
    async with client_for(system.apps["auth"]) as auth:  # no identity at all
        anonymous = await auth.put(
            f"/internal/customers/{customer_id}/kyc",
            json={"status": "verified", "verification_id": "kyv_anon", "method": "ekyc"},
        )
    assert anonymous.status_code == 401

    forged = {"status": "verified", "verification_id": "kyv_forged", "method": "ekyc"}
    for path in (f"/internal/customers/{customer_id}/kyc", f"/v1/customers/{customer_id}/kyc", "/v1/me/kyc"):
        through = await system.gateway.put(path, json=forged, headers=bearer(tokens))
        assert (through.status_code, through.json()["code"]) == (404, "not_found"), path
    with_status = await system.gateway.patch("/v1/me", json={"kyc_status": "verified"}, headers=bearer(tokens))
    assert with_status.status_code in (401, 422), with_status.text  # stepped up first, or refused: never applied
    opened = await system.gateway.post(
        "/v1/accounts", json={**CUSTOMER, "email": "taro@example.jp", "kyc_status": "verified"}
    )
    assert opened.status_code == 422
    assert await kyc_status_of(system, tokens) == "unverified"
    path, body = MONEY["withdrawal"]
    assert (await system.gateway.post(path, json=body, headers=bearer(tokens))).json()["code"] == "kyc_required"


async def test_concurrent_deliveries_of_one_approval_apply_it_once_and_fraud_hears_each_change_once(
    system: System, sms: SmsSink
) -> None:
    customer_id = await open_unverified(system)
    tokens = await full_login(system, sms)
    answers = await asyncio.gather(*(put_kyc(system, customer_id, "kyv_once") for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert {a.json()["status"] for a in answers} == {"verified"}
    assert len({a.json()["verified_at"] for a in answers}) == 1
    changed = await system.gateway.patch(
        "/v1/me", json={"address": "福岡県福岡市中央区天神2-2-2"}, headers=bearer(tokens)
    )
    if changed.status_code == 401:
        grant = await grant_by_sms(system, sms, changed.json()["challenge"]["id"])
        changed = await system.gateway.patch(
            "/v1/me",
            json={"address": "福岡県福岡市中央区天神2-2-2"},
            headers=bearer(tokens, **{"Step-Up-Grant": grant}),
        )
    assert changed.status_code == 200, changed.text
    analyst = await staff_token(system, await make_staff(system, "analyst.kyc", "analyst"))

    async def recorded() -> bool:
        found = await system.gateway.get(
            "/v1/ops/fraud/events",
            params={"customer_id": customer_id, "type": "kyc_status_changed"},
            headers={"Authorization": f"Bearer {analyst}"},
        )
        assert found.status_code == 200, found.text
        return len(found.json()["events"]) >= 2

    await eventually_async(recorded)
    found = await system.gateway.get(
        "/v1/ops/fraud/events",
        params={"customer_id": customer_id, "type": "kyc_status_changed"},
        headers={"Authorization": f"Bearer {analyst}"},
    )
    assert len(found.json()["events"]) == 2, found.text  # one approval, one return to re-verification
