"""Passkeys over HTTP without a browser: what forged, foreign, replayed or malformed input gets, and that it changes
nothing (the browser tests, test_passkeys_browser.py, make real passkeys)."""

from __future__ import annotations

from typing import Any

from sekisho.sinks import SmsSink
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import full_login, grant_by_sms
from tests.auth.test_passkeys_browser import _sms_login, bearer
from tests.harness import System, client_for, identity_issuer

FORGED = {
    "id": "AAAA",
    "rawId": "AAAA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "attestationObject": "oA", "authenticatorData": "AA", "signature": "AA"},
}


async def started_registration(system: System, sms: SmsSink, tokens: dict[str, Any]) -> str:
    asked = await system.gateway.post("/v1/me/passkeys/registration", headers=bearer(tokens))
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    started = await system.gateway.post(
        "/v1/me/passkeys/registration", headers=bearer(tokens, **{"Step-Up-Grant": grant})
    )
    assert started.status_code == 201, started.text
    options = started.json()["options"]
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["excludeCredentials"] == []
    registration_id: str = started.json()["registration_id"]
    return registration_id


async def test_a_forged_registration_is_refused_its_challenge_is_spent_and_nothing_is_kept(
    system: System, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    registration_id = await started_registration(system, sms, tokens)
    path = f"/v1/me/passkeys/registration/{registration_id}"
    forged = await system.gateway.post(path, json={"credential": FORGED}, headers=bearer(tokens))
    assert (forged.status_code, forged.json()["code"]) == (422, "passkey_invalid")
    again = await system.gateway.post(path, json={"credential": FORGED}, headers=bearer(tokens))
    assert (again.status_code, again.json()["code"]) == (410, "ceremony_expired")
    unknown = await system.gateway.post(
        "/v1/me/passkeys/registration/wac_unknown", json={"credential": FORGED}, headers=bearer(tokens)
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ceremony_not_found")
    malformed = await system.gateway.post(path, json={"credential": "not an object"}, headers=bearer(tokens))
    assert malformed.status_code == 422
    assert (await system.gateway.get("/v1/me/passkeys", headers=bearer(tokens))).json() == []


async def test_another_customers_registration_is_not_found(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    registration_id = await started_registration(system, sms, await full_login(system, sms))
    await open_account(system.gateway, email="taro.suzuki@example.jp", phone="090-9999-0000")
    other = await _sms_login(system, sms, "taro.suzuki@example.jp", "+819099990000")
    taken = await system.gateway.post(
        f"/v1/me/passkeys/registration/{registration_id}", json={"credential": FORGED}, headers=bearer(other)
    )
    assert (taken.status_code, taken.json()["code"]) == (404, "ceremony_not_found")


async def test_login_options_do_not_tell_whether_a_login_id_exists(system: System) -> None:
    await open_account(system.gateway)  # a customer without passkeys

    async def allowed(login_id: str | None) -> list[dict[str, Any]]:
        answer = await system.gateway.post("/v1/auth/passkeys/options", json={"login_id": login_id} if login_id else {})
        assert answer.status_code == 200, answer.text
        assert answer.json()["options"]["userVerification"] == "required"
        found: list[dict[str, Any]] = answer.json()["options"].get("allowCredentials", [])
        return found

    assert await allowed(None) == []  # discoverable: the authenticator offers the customer's passkeys
    known, unknown = await allowed(CUSTOMER["email"]), await allowed("nobody@example.jp")
    assert len(known) == len(unknown) == 1
    assert {k for k in known[0] if k != "id"} == {k for k in unknown[0] if k != "id"}
    assert len(known[0]["id"]) == len(unknown[0]["id"])
    assert await allowed("nobody@example.jp") == unknown  # the same each time, as a real passkey would be


async def test_a_forged_passkey_login_is_refused_and_its_ceremony_is_spent(system: System) -> None:
    await open_account(system.gateway)
    options = (await system.gateway.post("/v1/auth/passkeys/options", json={})).json()
    body = {"authentication_id": options["authentication_id"], "credential": FORGED, "device_id": "browser-0001"}
    forged = await system.gateway.post("/v1/auth/passkeys/login", json=body)
    assert (forged.status_code, forged.json()["code"]) == (401, "passkey_invalid")
    again = await system.gateway.post("/v1/auth/passkeys/login", json=body)
    assert (again.status_code, again.json()["code"]) == (410, "ceremony_expired")
    unknown = await system.gateway.post("/v1/auth/passkeys/login", json={**body, "authentication_id": "wac_none"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ceremony_not_found")


async def test_an_answer_must_fit_its_method(system: System) -> None:
    for body in (
        {"method": "passkey", "code": "123456"},
        {"method": "passkey", "credential": FORGED, "code": "123456"},
        {"method": "sms"},
        {"method": "sms", "code": "123456", "credential": FORGED},
    ):
        answer = await system.gateway.post("/v1/auth/challenges/chl_none/verify", json=body)
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_failed"), body


async def test_a_step_up_offers_a_passkey_only_to_a_customer_who_has_one(system: System) -> None:
    customer_id = await open_account(system.gateway)
    token = identity_issuer("gateway", system.clock).issue("auth")
    async with client_for(system.apps["auth"]) as auth:
        created = await auth.post(
            "/internal/step-up/challenges",
            json={"customer_id": customer_id, "operation": "bank_link", "fields_digest": "0" * 64,
                  "methods": ["passkey", "sms"]},
            headers={IDENTITY_HEADER: token},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.json()["methods"] == ["sms"]
        assert created.json()["passkey"] is None
        only_passkey = await auth.post(
            "/internal/step-up/challenges",
            json={"customer_id": customer_id, "operation": "bank_link", "fields_digest": "0" * 64,
                  "methods": ["passkey"]},
            headers={IDENTITY_HEADER: token},
        )  # fmt: skip
    assert (only_passkey.status_code, only_passkey.json()["code"]) == (422, "no_method")
