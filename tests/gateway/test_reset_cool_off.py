"""Money after a password reset, through the gateway: it waits the cool-off that follows a contact change
(policy `contact_change_cool_off_seconds`) unless stepped up with the authenticator app, since whoever reset the
password may hold the inbox and a swapped SIM; auth reports the later of a contact change and a reset."""

from __future__ import annotations

import pyotp

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.test_api_login import full_login, grant_by_sms, login, stepped_up
from tests.auth.test_password_reset import NEW_PASSWORD, complete, requested_with_codes, verify
from tests.gateway.test_kyc_gate import MONEY, bearer, fresh_grant, open_unverified, put_kyc, system, txn_saw
from tests.harness import System

__all__ = ["system"]


async def _totp_grant(system: System, challenge_id: str, secret: str) -> str:
    code = pyotp.TOTP(secret).at(system.clock.timestamp())
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "totp", "code": code}
    )
    assert verified.status_code == 200, verified.text
    grant: str = verified.json()["grant"]
    return grant


async def test_money_right_after_a_reset_steps_up_with_totp_only_until_the_cool_off_ends(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    customer_id = await open_unverified(system)
    assert (await put_kyc(system, customer_id, "kyv_first")).status_code == 200
    tokens = await full_login(system, sms)
    started = await stepped_up(
        system, sms, lambda grant: system.gateway.post("/v1/auth/totp", headers=bearer(tokens, **grant))
    )
    secret = started.json()["secret"]
    code = pyotp.TOTP(secret).at(system.clock.timestamp())
    assert (await system.gateway.post("/v1/auth/totp/confirm", json={"code": code}, headers=bearer(tokens))).is_success

    # The reset, with the authenticator app as its possession factor (the SMS code would do as well).
    system.clock.advance(31)  # type: ignore[attr-defined]  # a TOTP step not used at the enrolment
    reset_id, email_code, _ = await requested_with_codes(system, smtp, sms)
    assert (await verify(system, reset_id, "email", email_code)).json()["ready"] is False
    by_app = await verify(system, reset_id, "totp", pyotp.TOTP(secret).at(system.clock.timestamp()))
    assert by_app.json() == {"verified": ["email", "possession"], "ready": True}, by_app.text
    assert (await complete(system, reset_id)).status_code == 200
    tokens = (await login(system.gateway, password=NEW_PASSWORD)).json()  # the customer's trusted phone
    assert tokens["access_token"]

    # Right after the reset: money steps up with the authenticator app only.
    for operation in ("withdrawal", "charge"):
        path, body = MONEY[operation]
        refused = await system.gateway.post(path, json=body, headers=bearer(tokens))
        assert (refused.status_code, refused.json()["code"]) == (401, "step_up_required"), refused.text
        assert refused.json()["challenge"]["methods"] == ["totp"]
        assert "contact_change_cool_off" in refused.json()["reasons"]
        # An SMS code (to the phone a SIM swap may hold) proves nothing here, even bound to this very request.
        by_sms = await fresh_grant(system, sms, customer_id, operation)
        still = await system.gateway.post(path, json=body, headers=bearer(tokens, **{"Step-Up-Grant": by_sms}))
        assert (still.status_code, still.json()["code"]) == (401, "step_up_required"), still.text
    assert txn_saw(system) == []

    system.clock.advance(31)  # type: ignore[attr-defined]  # a TOTP code of a step not used before
    path, body = MONEY["withdrawal"]
    asked = await system.gateway.post(path, json=body, headers=bearer(tokens))
    grant = await _totp_grant(system, asked.json()["challenge"]["id"], secret)
    passed = await system.gateway.post(path, json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert passed.json().get("code") != "step_up_required", passed.text
    assert ("POST", path) in txn_saw(system)

    # After the cool-off (a day), an SMS code moves money again, as before the reset.
    system.clock.advance(86_401)  # type: ignore[attr-defined]
    tokens = (await login(system.gateway, password=NEW_PASSWORD)).json()
    path, body = MONEY["charge"]
    asked = await system.gateway.post(path, json=body, headers=bearer(tokens))
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required")
    assert "sms" in asked.json()["challenge"]["methods"]
    assert "contact_change_cool_off" not in asked.json()["reasons"]
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    passed = await system.gateway.post(path, json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert passed.json().get("code") != "step_up_required", passed.text
    assert ("POST", path) in txn_saw(system)
