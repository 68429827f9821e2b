"""Passkeys for real: headless Chromium with a virtual authenticator registers and uses them through the gateway.

The page (tests/browser/passkey_page.html) is served at http://localhost:PORT, the one origin auth is configured
to accept; a second server on another port plays a phishing site of the same host (RP ID `localhost` covers every
port, so the browser signs there too, and only the origin in the signed client data can tell). The gateway's policy
here is the shipped one with `phishing_resistant = true` for bank_link. One browser for the module, a fresh tab
(and authenticator) for each test.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.gateway.policy import SHIPPED_POLICY, load_policy
from services.gateway.step_up import key_fields_digest
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login, grant_by_sms, login
from tests.browser.chromium import Chromium, PageServer, Tab
from tests.gateway.test_kyc_gate import put_kyc
from tests.gateway.test_policy_phishing_resistant import phishing_resistant_policy
from tests.gateway.test_step_up import allowing_system
from tests.harness import Backend, System, client_for, identity_issuer
from tests.servers import eventually, eventually_async

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "passkeys"
BANK_LINK = {"bank_code": "0001", "branch_code": "123", "account_number": "1234567", "holder_kana": "サトウ ハナコ"}
LAPTOP = "browser-laptop-0001"


@pytest.fixture(scope="module")
def site() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def phishing_site() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = phishing_resistant_policy(tmp_path_factory.mktemp("policy"))
    assert load_policy(path).operations["bank_link"].phishing_resistant
    return path


@pytest.fixture
async def system(
    backend: Backend, smtp: SmtpSink, sms: SmsSink, site: PageServer, phishing_site: PageServer, policy_file: Path
) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY, "webauthn_rp_id": "localhost", "webauthn_origins": [site.origin]},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
        "gateway": {"policy_file": str(policy_file)},
    }
    async with allowing_system(backend, overrides) as running:
        site.relay_to(running.gateway)
        phishing_site.relay_to(running.gateway)
        yield running


@pytest.fixture
async def tab(chromium: Chromium, site: PageServer) -> AsyncIterator[Tab]:
    opened = await chromium.run(chromium.new_tab)
    await chromium.run(opened.open, site.origin + "/")
    yield opened
    await chromium.run(opened.close)


def bearer(tokens: dict[str, Any], **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}", **more}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def fraud_events(system: System, type_: str, count: int = 1) -> list[Any]:
    """The events of this type fraud has received, once there are `count` of them."""
    from sqlalchemy import select

    from services.fraud.models import event

    fraud = system.apps["fraud"].state.service
    stored: list[Any] = []

    async def arrived() -> bool:
        nonlocal stored
        async with fraud.database.transaction() as session:
            stored = list((await session.execute(select(event).where(event.c.type == type_))).all())
        return len(stored) >= count

    await eventually_async(arrived)
    return stored


async def register_passkey(system: System, sms: SmsSink, chromium: Chromium, tab: Tab, tokens: dict[str, Any]) -> Any:
    """The customer stepped up with an SMS code (mfa_change), then the page registers a passkey in the browser."""
    asked = await system.gateway.post("/v1/me/passkeys/registration", headers=bearer(tokens))
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required"), asked.text
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    done = await chromium.run(tab.call, "registerPasskey", bearer(tokens, **{"Step-Up-Grant": grant}), "my laptop")
    assert done["status"] == 201, done
    return done["body"]


async def test_a_passkey_registers_and_logs_in_in_chromium_as_a_two_factor_login(
    system: System, sms: SmsSink, smtp: SmtpSink, chromium: Chromium, tab: Tab
) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    registered = await register_passkey(system, sms, chromium, tab, tokens)
    assert registered["name"] == "my laptop"
    listed = await system.gateway.get("/v1/me/passkeys", headers=bearer(tokens))
    assert [p["passkey_id"] for p in listed.json()] == [registered["passkey_id"]]
    kind = listed.json()[0]["kind"]
    assert kind in ("hwk", "swk")
    await eventually(lambda: any("認証方法の変更" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    assert "パスキー" in next(m for m in smtp.to(CUSTOMER["email"]) if "認証方法" in m["Subject"]).get_content()

    signed_in = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert signed_in["status"] == 200, signed_in
    assert signed_in["body"]["acr"] == "aal2"
    claims = claims_of(signed_in["body"]["access_token"])
    assert {(f["method"], f["class"]) for f in claims["amr"]} == {(kind, "possession"), ("user", "knowledge")}
    assert (claims["sub"], claims["acr"]) == (customer_id, "aal2")
    me = await system.gateway.get("/v1/me", headers=bearer(signed_in["body"]))
    assert me.status_code == 200, me.text  # an MFA session: the customer's data without a further factor
    await eventually(lambda: any("新しい端末" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])[-1:]))
    await chromium.run(tab.screenshot, ARTIFACTS / "passkey-login.png")


async def test_an_assertion_made_on_another_origin_is_refused(
    system: System, sms: SmsSink, chromium: Chromium, tab: Tab, phishing_site: PageServer, site: PageServer
) -> None:
    await open_account(system.gateway)
    await register_passkey(system, sms, chromium, tab, await full_login(system, sms))
    # The phishing page relays the real server's options: the browser signs them, for the origin it is on.
    await chromium.run(tab.open, phishing_site.origin + "/")
    phished = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert (phished["status"], phished["body"]["code"]) == (401, "passkey_invalid")
    [refused] = await fraud_events(system, "login_failed")
    assert refused.outcome == "passkey_invalid"
    await chromium.run(tab.screenshot, ARTIFACTS / "passkey-phishing-refused.png")
    await chromium.run(tab.open, site.origin + "/")
    genuine = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert genuine["status"] == 200, genuine


async def test_an_assertion_is_used_once_and_a_cloned_authenticator_is_refused(
    system: System, sms: SmsSink, chromium: Chromium, tab: Tab
) -> None:
    await open_account(system.gateway)
    await register_passkey(system, sms, chromium, tab, await full_login(system, sms))
    options = (await system.gateway.post("/v1/auth/passkeys/options", json={})).json()
    credential = await chromium.run(tab.call, "getCredential", options["options"])
    body = {"authentication_id": options["authentication_id"], "credential": credential, "device_id": LAPTOP}
    first = await system.gateway.post("/v1/auth/passkeys/login", json=body)
    assert first.status_code == 200, first.text
    replayed = await system.gateway.post("/v1/auth/passkeys/login", json=body)
    assert (replayed.status_code, replayed.json()["code"]) == (410, "ceremony_expired")

    # A copy of the key whose counter lags behind the original's: the signature is good, the counter is not.
    [held] = await chromium.run(tab.credentials)
    assert held["signCount"] > 0
    await chromium.run(tab.replace_credential, {**held, "signCount": 0})
    cloned = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert (cloned["status"], cloned["body"]["code"]) == (401, "passkey_invalid")
    [suspected] = await fraud_events(system, "passkey_clone_suspected")
    data = json.loads(suspected.data)
    assert (data["sign_count_received"], data["sign_count_stored"]) == (1, held["signCount"])


async def test_a_locked_account_cannot_log_in_with_a_passkey(
    system: System, sms: SmsSink, chromium: Chromium, tab: Tab
) -> None:
    await open_account(system.gateway)
    await register_passkey(system, sms, chromium, tab, await full_login(system, sms))
    for _ in range(5):  # a stranger's wrong passwords lock out every device not yet logged in on
        await login(system.gateway, password="Wrong-Password-9", device="stranger-device-01")
    locked = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert (locked["status"], locked["body"]["code"]) == (423, "account_locked")


async def test_another_customers_passkey_is_not_found_like_a_missing_one(
    system: System, sms: SmsSink, chromium: Chromium, tab: Tab
) -> None:
    await open_account(system.gateway)
    owner = await register_passkey(system, sms, chromium, tab, await full_login(system, sms))
    # The other customer: a passkey login from their own registered passkey is not needed, a session is.
    other = await open_account(system.gateway, email="taro.suzuki@example.jp", phone="090-9999-0000")
    assert other
    other_tokens = await _sms_login(system, sms, "taro.suzuki@example.jp", "+819099990000")
    for method, path in (("PATCH", f"/v1/me/passkeys/{owner['passkey_id']}"), ("PATCH", "/v1/me/passkeys/pky_none")):
        answer = await system.gateway.request(method, path, json={"name": "mine now"}, headers=bearer(other_tokens))
        assert (answer.status_code, answer.json()["code"]) == (404, "passkey_not_found"), path
    unchanged = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert unchanged["status"] == 200


async def _sms_login(system: System, sms: SmsSink, email: str, phone: str) -> dict[str, Any]:
    first = await login(system.gateway, login_id=email, device="other-phone-0001")
    challenge_id = first.json()["challenge"]["id"]
    count = len(sms.received)
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202
    await eventually(lambda: any(m.to == phone for m in sms.received[count:]))
    found = re.search(r"\b(\d{6})\b", [m for m in sms.received if m.to == phone][-1].body)
    assert found is not None
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": found.group(1)}
    )
    assert verified.status_code == 200, verified.text
    tokens: dict[str, Any] = verified.json()
    return tokens


async def test_a_phishing_resistant_operation_refuses_codes_and_accepts_a_passkey(
    system: System, sms: SmsSink, chromium: Chromium, tab: Tab
) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)  # password + SMS code
    await register_passkey(system, sms, chromium, tab, tokens)
    assert (await put_kyc(system, customer_id, "kyv_first")).status_code == 200

    asked = await system.gateway.post("/v1/bank-links", json=BANK_LINK, headers=bearer(tokens))
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required"), asked.text
    challenge = asked.json()["challenge"]
    assert challenge["methods"] == ["passkey"]
    assert challenge["passkey"]["userVerification"] == "required"
    # The login's SMS code does not count, nor does a code sent for this challenge ...
    assert "factor_missing" in asked.json()["reasons"]
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "sms"})
    assert (sent.status_code, sent.json()["code"]) == (422, "method_not_allowed")
    # ... nor a grant from an SMS code for this very operation and these fields.
    sms_grant = await _sms_grant(system, sms, customer_id)
    with_sms = await system.gateway.post(
        "/v1/bank-links", json=BANK_LINK, headers=bearer(tokens, **{"Step-Up-Grant": sms_grant})
    )
    assert (with_sms.status_code, with_sms.json()["code"]) == (401, "step_up_required")
    assert "grant_not_counted" in with_sms.json()["reasons"]
    assert ("POST", "/v1/bank-links") not in system.txn.public  # type: ignore[attr-defined]

    # A passkey answers the challenge: the grant lets the request through to txn.
    verified = await chromium.run(tab.call, "stepUpWithPasskey", challenge)
    assert verified["status"] == 200, verified
    passed = await system.gateway.post(
        "/v1/bank-links", json=BANK_LINK, headers=bearer(tokens, **{"Step-Up-Grant": verified["body"]["grant"]})
    )
    # txn takes the passkey as the link's possession factor (LINK-1) and goes on to ask the bank, which has no such
    # account here (the bank and kyc's identity match are tested in tests/txn).
    assert (passed.status_code, passed.json()["code"]) == (422, "bank_account_not_found"), passed.text
    assert ("POST", "/v1/bank-links") in system.txn.public  # type: ignore[attr-defined]


async def test_a_removed_passkey_no_longer_logs_in_and_the_customer_is_told(
    system: System, sms: SmsSink, smtp: SmtpSink, chromium: Chromium, tab: Tab
) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    registered = await register_passkey(system, sms, chromium, tab, tokens)
    path = f"/v1/me/passkeys/{registered['passkey_id']}"
    renamed = await system.gateway.patch(path, json={"name": "old laptop"}, headers=bearer(tokens))
    assert (renamed.status_code, renamed.json()["name"]) == (200, "old laptop")
    asked = await system.gateway.delete(path, headers=bearer(tokens))
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required")  # mfa_change: a fresh factor
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    removed = await system.gateway.delete(path, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert removed.status_code == 204, removed.text
    assert (await system.gateway.get("/v1/me/passkeys", headers=bearer(tokens))).json() == []
    await eventually(lambda: sum("認証方法" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])) == 2)
    assert "削除" in [m for m in smtp.to(CUSTOMER["email"]) if "認証方法" in m["Subject"]][-1].get_content()
    refused = await chromium.run(tab.call, "logInWithPasskey", LAPTOP)
    assert (refused["status"], refused["body"]["code"]) == (401, "passkey_invalid")


async def test_without_a_passkey_a_phishing_resistant_operation_is_refused(system: System, sms: SmsSink) -> None:
    customer_id = await open_account(system.gateway)
    tokens = await full_login(system, sms)
    assert (await put_kyc(system, customer_id, "kyv_first")).status_code == 200
    refused = await system.gateway.post("/v1/bank-links", json=BANK_LINK, headers=bearer(tokens))
    assert (refused.status_code, refused.json()["code"]) == (403, "operation_denied")
    assert "no_usable_method" in refused.json()["reasons"]


async def _sms_grant(system: System, sms: SmsSink, customer_id: str) -> str:
    digest = key_fields_digest(load_policy(SHIPPED_POLICY).operations["bank_link"], BANK_LINK, b"")
    token = identity_issuer("gateway", system.clock).issue("auth")
    async with client_for(system.apps["auth"]) as auth:
        created = await auth.post(
            "/internal/step-up/challenges",
            json={"customer_id": customer_id, "operation": "bank_link", "fields_digest": digest, "methods": ["sms"]},
            headers={IDENTITY_HEADER: token},
        )
    assert created.status_code == 201, created.text
    return await grant_by_sms(system, sms, created.json()["id"])
