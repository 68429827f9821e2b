"""Issue 13 item 4: the password and the e-mail inbox must not replace the phone.

The attack: with the password and the inbox only, log in from a new device answering the e-mail code (which made
the login MFA), then `PATCH /v1/me {"phone": …}` stepped up with another e-mail code, and the phone is the
attacker's. Now an e-mail code is not offered at login while the customer has a phone, a contact change is stepped
up by the phone registered now or TOTP (never e-mail), the new contact proves itself with a code before it takes
effect, and money waits a cool-off after a contact change unless stepped up with TOTP.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.gateway.bearer import BearerAuthenticator
from services.gateway.policy import SHIPPED_POLICY, Grant, Risk, SessionState, decide, load_policy
from shared.tokens import Factor
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import PHONE, full_login, grant_by_sms, login
from tests.gateway.test_step_up import bearer, fraud, system
from tests.harness import Backend, System
from tests.servers import eventually

__all__ = ["system"]

ATTACKER_DEVICE = "attacker-laptop-0666"
NEW_PHONE, NEW_PHONE_E164 = "080-9999-8888", "+818099998888"


def _code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


async def _email_code(system: System, smtp: SmtpSink, challenge_id: str, address: str = CUSTOMER["email"]) -> str:
    def codes() -> list[str]:  # other notices (the new-device login) may arrive in between
        return [m.get_content() for m in smtp.to(address) if "確認コード" in (m["Subject"] or "")]

    count = len(codes())
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "email"})
    assert sent.status_code == 202, sent.text
    await eventually(lambda: len(codes()) > count)
    return _code_in(codes()[-1])


async def _sms_to(sms: SmsSink, number: str, count: int) -> str:
    await eventually(lambda: len([m for m in sms.received if m.to == number]) > count)
    return [m for m in sms.received if m.to == number][-1].body


async def test_an_email_code_does_not_complete_a_login_on_a_new_device(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    first = await login(system.gateway, device=ATTACKER_DEVICE)  # the stolen password
    assert first.status_code == 401
    challenge = first.json()["challenge"]
    assert challenge["methods"] == ["sms"]  # not the inbox: the customer has a phone
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert (sent.status_code, sent.json()["code"]) == (422, "method_not_allowed")
    # Even a code guessed or taken from an earlier mail does not answer it.
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge['id']}/verify", json={"method": "email", "code": "123456"}
    )
    assert verified.status_code == 401
    assert "access_token" not in verified.text
    assert not smtp.to(CUSTOMER["email"]) or all(
        "確認コード" not in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])
    )


async def test_a_phone_change_is_not_stepped_up_by_email_and_waits_for_the_new_phone(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    body = {"phone": NEW_PHONE}

    asked = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens))
    assert asked.status_code == 401
    assert asked.json()["code"] == "step_up_required"
    challenge = asked.json()["challenge"]
    assert "email" not in challenge["methods"]
    by_email = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert (by_email.status_code, by_email.json()["code"]) == (422, "method_not_allowed")

    # An SMS code to the phone registered now: the change is pending, a code goes to the new phone.
    new_before = len([m for m in sms.received if m.to == NEW_PHONE_E164])
    grant = await grant_by_sms(system, sms, challenge["id"])
    pending = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert pending.status_code == 200, pending.text
    assert pending.json()["changed"] == []
    change = pending.json()["pending"]
    assert change["attribute"] == "phone"
    code = _code_in(await _sms_to(sms, NEW_PHONE_E164, new_before))
    me = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert me.json()["phone"] == PHONE  # not yet

    verify = f"/v1/me/contacts/{change['change_id']}/verify"
    wrong = await system.gateway.post(
        verify, json={"code": f"{(int(code) + 1) % 1_000_000:06d}"}, headers=bearer(tokens)
    )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "challenge_failed")
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).json()["phone"] == PHONE

    assert not [m for m in smtp.to(CUSTOMER["email"]) if "変更" in (m["Subject"] or "")]
    done = await system.gateway.post(verify, json={"code": code}, headers=bearer(tokens))
    assert done.status_code == 200, done.text
    assert done.json() == {"changed": ["phone"]}
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).json()["phone"] == NEW_PHONE_E164
    again = await system.gateway.post(verify, json={"code": code}, headers=bearer(tokens))
    assert again.status_code == 410  # applied once

    # Told to the old and to the new contact (attribute_changed, one notice per role).
    def changed_notices() -> list[Any]:
        return [m for m in smtp.to(CUSTOMER["email"]) if "変更" in (m["Subject"] or "")]

    await eventually(lambda: len(changed_notices()) >= 2)
    changed = changed_notices()
    assert len(changed) == 2
    assert NEW_PHONE_E164 not in "".join(m.get_content() for m in changed)  # masked
    # And by SMS to the old phone (the inbox's holder cannot hide it) and to the new one.
    await eventually(lambda: any("電話番号が変更" in m.body for m in sms.received if m.to == PHONE))
    await eventually(lambda: any("登録されました" in m.body for m in sms.received if m.to == NEW_PHONE_E164))

    # The gateway's session check now carries the time of the change, for the money cool-off.
    bearer_auth: BearerAuthenticator = system.apps["gateway"].state.service.runtime.bearer
    system.clock.advance(6)  # type: ignore[attr-defined]
    assert (await system.gateway.get("/v1/me", headers=bearer(tokens))).status_code == 200
    changed_at = bearer_auth.contact_changed_at(str(tokens["session_id"]))
    assert changed_at is not None
    assert abs(changed_at - (system.clock.timestamp() - 6)) <= 1


async def test_an_email_change_is_stepped_up_by_sms_and_proven_by_the_new_inbox(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    body = {"email": "hanako.new@example.com"}
    asked = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens))
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    pending = await system.gateway.patch("/v1/me", json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant}))
    assert pending.status_code == 200, pending.text
    await eventually(lambda: len(smtp.to("hanako.new@example.com")) == 1)
    code = _code_in(smtp.to("hanako.new@example.com")[0].get_content())
    assert (await login(system.gateway, login_id="hanako.new@example.com")).json()["code"] == "invalid_credentials"
    verify = f"/v1/me/contacts/{pending.json()['pending']['change_id']}/verify"
    assert (await system.gateway.post(verify, json={"code": code}, headers=bearer(tokens))).status_code == 200
    assert (await login(system.gateway, login_id="hanako.new@example.com")).status_code == 200


async def test_auth_refuses_a_contact_change_stepped_up_by_email_even_where_the_policy_would_allow_it(
    backend: Backend, sms: SmsSink, smtp: SmtpSink, tmp_path: Path
) -> None:
    """Defence in depth: a policy file that forgot to refuse e-mail for profile_change still cannot let the inbox
    change the phone: auth checks the step-up factor of a contact change itself."""
    from datetime import UTC, datetime

    from shared.clock import FrozenClock
    from tests.auth.conftest import SIGNING_KEY
    from tests.harness import in_process_system

    lax = tmp_path / "policy.toml"
    refusal = 'refuse_methods = ["email", "recovery_code"]\n'
    marker = f"(auth checks it again for e-mail and phone changes).\n{refusal}"
    shipped = SHIPPED_POLICY.read_text(encoding="utf-8")
    assert marker in shipped
    lax_refusal = 'refuse_methods = ["recovery_code"]\n'
    lax.write_text(
        shipped.replace(marker, f"(auth checks it again for e-mail and phone changes).\n{lax_refusal}"),
        encoding="utf-8",
    )
    assert "email" not in load_policy(lax).operations["profile_change"].refuse_methods
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "gateway": {"policy_file": str(lax), "rate_limits": []},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        await open_account(running.gateway)
        tokens = await full_login(running, sms)
        body = {"phone": NEW_PHONE}
        asked = await running.gateway.patch("/v1/me", json=body, headers=bearer(tokens))
        if asked.status_code == 401:
            challenge = asked.json()["challenge"]
            assert "email" in challenge["methods"]  # the lax policy offers the inbox
            code = await _email_code(running, smtp, challenge["id"])
            verified = await running.gateway.post(
                f"/v1/auth/challenges/{challenge['id']}/verify", json={"method": "email", "code": code}
            )
            assert verified.status_code == 200, verified.text
            grant = verified.json()["grant"]
            refused = await running.gateway.patch(
                "/v1/me", json=body, headers=bearer(tokens, **{"Step-Up-Grant": grant})
            )
        else:
            refused = asked
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "step_up_method_refused"
        assert (await running.gateway.get("/v1/me", headers=bearer(tokens))).json()["phone"] == PHONE


# ---- money after a contact change (the policy; the money routes come with the txn service) --------------------


def _withdrawal(now: int, *, grant_method: str | None, changed_ago: int | None) -> Any:
    policy = load_policy(SHIPPED_POLICY)
    login_factors = (Factor.of("pwd", now - 60), Factor.of("sms", now - 60))
    grant = Grant("withdrawal", Factor.of(grant_method, now - 5)) if grant_method else None  # type: ignore[arg-type]
    session = SessionState(
        caller="customer",
        factors=login_factors,
        grant=grant,
        kyc_verified=True,
        contact_changed_at=None if changed_ago is None else now - changed_ago,
    )
    return decide(policy, "withdrawal", session, Risk(0, "allow"), now=now)


@pytest.mark.parametrize("operation", ["withdrawal", "charge", "bank_link"])
def test_money_operations_wait_a_cool_off_after_a_contact_change(operation: str) -> None:
    rule = load_policy(SHIPPED_POLICY).operations[operation]
    assert rule.contact_change_cool_off_seconds == 86_400


def test_in_the_cool_off_only_a_totp_step_up_moves_money() -> None:
    now = 2_000_000_000
    assert _withdrawal(now, grant_method="sms", changed_ago=None).outcome == "allow"  # no change: as before
    cooling = _withdrawal(now, grant_method="sms", changed_ago=3600)
    assert cooling.outcome == "step_up"
    assert cooling.methods == ("totp",)
    assert "contact_change_cool_off" in cooling.reasons
    assert _withdrawal(now, grant_method=None, changed_ago=3600).methods == ("totp",)
    assert _withdrawal(now, grant_method="totp", changed_ago=3600).outcome == "allow"
    assert _withdrawal(now, grant_method="sms", changed_ago=86_401).outcome == "allow"  # the cool-off is over


async def test_an_authenticator_app_is_not_enrolled_on_an_email_step_up(system: System, sms: SmsSink) -> None:
    """With the inbox alone an authenticator app would become the TOTP that proves contact changes and money."""
    fraud(system).answer = {"score": 0, "action": "allow"}
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    asked = await system.gateway.post("/v1/auth/totp", json={}, headers=bearer(tokens))
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required")
    challenge = asked.json()["challenge"]
    assert "email" not in challenge["methods"]
    by_email = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert (by_email.status_code, by_email.json()["code"]) == (422, "method_not_allowed")
