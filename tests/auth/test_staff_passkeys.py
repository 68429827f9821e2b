"""Staff passkeys over HTTP, with a software authenticator (soft_authenticator.py) in place of a browser: a staff
member registers one after a fresh sign-in and signs in with it instead of a TOTP code; another's passkey, a replayed
or forged assertion, or a counter going backwards is refused and counted toward the staff lockout. The browser test
is tests/ops_console/test_staff_passkeys_console.py."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import select

from sekisho.sinks import SmsSink
from services.auth import models
from tests.auth.conftest import open_account
from tests.auth.soft_authenticator import SoftAuthenticator
from tests.auth.test_api_login import full_login, grant_by_sms
from tests.auth.test_passkeys_browser import bearer, claims_of
from tests.auth.test_staff import advance, make_staff, refresh, staff_tokens
from tests.harness import System


async def register(system: System, tokens: dict[str, Any], key: SoftAuthenticator, name: str = "YubiKey") -> str:
    started = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(tokens))
    assert started.status_code == 201, started.text
    options = started.json()["options"]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    done = await system.gateway.post(
        f"/v1/ops/auth/passkeys/registration/{started.json()['registration_id']}",
        json={"credential": key.create(options), "name": name},
        headers=bearer(tokens),
    )
    assert done.status_code == 201, done.text
    passkey_id: str = done.json()["passkey_id"]
    return passkey_id


async def password_step(system: System, created: dict[str, str]) -> dict[str, Any]:
    first = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": created["password"]}
    )
    assert (first.status_code, first.json()["code"]) == (401, "mfa_required"), first.text
    challenge: dict[str, Any] = first.json()["challenge"]
    return challenge


async def answer(system: System, challenge: dict[str, Any], credential: dict[str, Any]) -> Any:
    return await system.gateway.post(challenge["verify"], json={"method": "passkey", "credential": credential})


async def audit_actions(system: System, actor: str) -> list[str]:
    auth = system.apps["auth"].state.service
    a = models.audit_entry
    async with auth.database.reading() as session:
        rows = (await session.execute(select(a.c.action).where(a.c.actor_id == actor).order_by(a.c.seq))).all()
    return [row.action for row in rows]


async def staff_id_of(tokens: dict[str, Any]) -> str:
    return str(claims_of(tokens["access_token"])["sub"])


async def test_a_staff_member_registers_a_passkey_and_signs_in_with_it_instead_of_totp(system: System) -> None:
    created = await make_staff(system, "analyst.passkey", "analyst")
    plain = await password_step(system, created)
    assert plain["methods"] == ["totp"]
    assert "passkey" not in plain
    tokens = await staff_tokens(system, created)
    key = SoftAuthenticator()
    passkey_id = await register(system, tokens, key)
    listed = await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(tokens))
    assert [(p["passkey_id"], p["name"], p["kind"]) for p in listed.json()] == [(passkey_id, "YubiKey", "hwk")]

    challenge = await password_step(system, created)
    assert challenge["methods"] == ["totp", "passkey"]
    assert challenge["passkey"]["userVerification"] == "required"
    assert [c["id"] for c in challenge["passkey"]["allowCredentials"]] == [key.create({"challenge": ""})["id"]]
    signed_in = await answer(system, challenge, key.get(challenge["passkey"]))
    assert signed_in.status_code == 200, signed_in.text
    claims = claims_of(signed_in.json()["access_token"])
    assert {(f["method"], f["class"]) for f in claims["amr"]} == {("pwd", "knowledge"), ("hwk", "possession")}
    assert claims["role"] == "analyst"
    # The passkey session works on a staff route; TOTP still answers a challenge that offers a passkey.
    assert (await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(signed_in.json()))).status_code == 200
    advance(system, seconds=30)
    offered = await password_step(system, created)
    code = pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())
    by_code = await system.gateway.post(offered["verify"], json={"method": "totp", "code": code})
    assert by_code.status_code == 200, by_code.text

    staff_id = await staff_id_of(tokens)
    actions = await audit_actions(system, staff_id)
    for action in ("staff.passkey_registration", "staff.passkey_add", "staff.passkey_list"):
        assert action in actions

    removed = await system.gateway.delete(f"/v1/ops/auth/passkeys/{passkey_id}", headers=bearer(by_code.json()))
    assert removed.status_code == 204, removed.text
    assert "staff.passkey_remove" in await audit_actions(system, staff_id)
    after = await password_step(system, created)
    assert after["methods"] == ["totp"]
    gone = await answer(system, after, key.get(challenge["passkey"] | {"challenge": "AAAA"}))
    assert (gone.status_code, gone.json()["code"]) == (401, "challenge_failed")


async def test_a_replayed_forged_or_cloned_assertion_is_refused_and_locks_the_staff_member(system: System) -> None:
    created = await make_staff(system, "analyst.replay", "analyst")
    tokens = await staff_tokens(system, created)
    key = SoftAuthenticator()
    await register(system, tokens, key)
    first = await password_step(system, created)
    used = key.get(first["passkey"])
    signed_in = await answer(system, first, used)
    assert signed_in.status_code == 200, signed_in.text
    again = await answer(system, first, key.get(first["passkey"]))
    assert again.status_code in (401, 410)  # that challenge is spent

    second = await password_step(system, created)
    replayed = await answer(system, second, used)  # signed for the first challenge's WebAuthn challenge
    assert (replayed.status_code, replayed.json()["code"]) == (401, "challenge_failed")
    assert replayed.json()["attempts_left"] == 4
    phished = await answer(system, second, key.get(second["passkey"], origin="http://localhost.evil.example"))
    assert (phished.status_code, phished.json()["code"]) == (401, "challenge_failed")
    cloned = await answer(system, second, key.get(second["passkey"], count=1))  # the counter went back to 1
    assert (cloned.status_code, cloned.json()["code"]) == (401, "challenge_failed")
    staff_id = await staff_id_of(tokens)
    actions = await audit_actions(system, staff_id)
    assert actions.count("staff.login_failed") == 3
    assert "staff.passkey_clone_suspected" in actions
    assert "staff.locked" in actions
    # Three wrong answers lock the member (the staff rule) and end their sessions: someone holds the password.
    right = await answer(system, second, key.get(second["passkey"]))
    assert right.status_code == 423, right.text
    locked = await system.gateway.post(
        "/v1/ops/auth/login", json={"login_id": created["login_id"], "password": created["password"]}
    )
    assert (locked.status_code, locked.json()["code"]) == (423, "account_locked")
    assert (await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(signed_in.json()))).status_code == 401


async def test_another_staff_members_passkey_cannot_sign_you_in(system: System) -> None:
    mine, theirs = (
        await make_staff(system, "analyst.mine", "analyst"),
        await make_staff(system, "analyst.theirs", "admin"),
    )
    my_key, their_key = SoftAuthenticator(), SoftAuthenticator()
    await register(system, await staff_tokens(system, mine), my_key)
    await register(system, await staff_tokens(system, theirs), their_key)
    challenge = await password_step(system, mine)
    borrowed = await answer(system, challenge, their_key.get(challenge["passkey"]))  # the right challenge, not mine
    assert (borrowed.status_code, borrowed.json()["code"]) == (401, "challenge_failed")
    unverified = await answer(system, challenge, my_key.get(challenge["passkey"], verified=False))
    assert (unverified.status_code, unverified.json()["code"]) == (401, "challenge_failed")  # no PIN or biometric
    # Nor can a passkey answer where the member has none to offer.
    bare = await make_staff(system, "analyst.bare", "analyst")
    offered = await password_step(system, bare)
    assert offered["methods"] == ["totp"]
    unasked = await answer(system, offered, my_key.get({"challenge": "AAAA"}))
    assert (unasked.status_code, unasked.json()["code"]) == (401, "challenge_failed")


async def test_changing_passkeys_needs_a_fresh_sign_in(system: System) -> None:
    created = await make_staff(system, "analyst.stale", "analyst")
    tokens = await staff_tokens(system, created)
    passkey_id = await register(system, tokens, SoftAuthenticator())
    started = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(tokens))
    assert started.status_code == 201
    advance(system, minutes=6)  # past the 5 minutes; the shift goes on with a refreshed access token
    refreshed = await refresh(system, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    stale = refreshed.json()
    late = await system.gateway.post(
        f"/v1/ops/auth/passkeys/registration/{started.json()['registration_id']}",
        json={"credential": SoftAuthenticator().create(started.json()["options"])},
        headers=bearer(stale),
    )
    assert (late.status_code, late.json()["code"]) == (401, "fresh_sign_in_required")
    new = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(stale))
    assert (new.status_code, new.json()["code"]) == (401, "fresh_sign_in_required")
    removed = await system.gateway.delete(f"/v1/ops/auth/passkeys/{passkey_id}", headers=bearer(stale))
    assert (removed.status_code, removed.json()["code"]) == (401, "fresh_sign_in_required")
    listed = await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(stale))
    assert [p["passkey_id"] for p in listed.json()] == [passkey_id]  # listing needs no fresh sign-in; nothing changed


async def test_an_analyst_cannot_remove_see_or_finish_another_staff_members_passkey(system: System) -> None:
    owner, other = (
        await make_staff(system, "analyst.owner", "analyst"),
        await make_staff(system, "analyst.other", "analyst"),
    )
    owner_tokens, other_tokens = await staff_tokens(system, owner), await staff_tokens(system, other)
    passkey_id = await register(system, owner_tokens, SoftAuthenticator())
    removed = await system.gateway.delete(f"/v1/ops/auth/passkeys/{passkey_id}", headers=bearer(other_tokens))
    assert (removed.status_code, removed.json()["code"]) == (404, "passkey_not_found")
    assert (await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(other_tokens))).json() == []
    started = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(owner_tokens))
    taken = await system.gateway.post(
        f"/v1/ops/auth/passkeys/registration/{started.json()['registration_id']}",
        json={"credential": SoftAuthenticator().create(started.json()["options"])},
        headers=bearer(other_tokens),
    )
    assert (taken.status_code, taken.json()["code"]) == (404, "ceremony_not_found")
    listed = await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(owner_tokens))
    assert [p["passkey_id"] for p in listed.json()] == [passkey_id]
    # A forged or foreign-origin registration is refused and keeps nothing.
    fresh = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(other_tokens))
    forged = await system.gateway.post(
        f"/v1/ops/auth/passkeys/registration/{fresh.json()['registration_id']}",
        json={"credential": SoftAuthenticator().create(fresh.json()["options"], origin="http://evil.example")},
        headers=bearer(other_tokens),
    )
    assert (forged.status_code, forged.json()["code"]) == (422, "passkey_invalid")
    assert (await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(other_tokens))).json() == []


async def test_a_customer_token_cannot_use_the_staff_passkey_routes(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    tokens = await full_login(system, sms)
    refused = await system.gateway.post("/v1/ops/auth/passkeys/registration", headers=bearer(tokens))
    assert refused.status_code in (401, 403), refused.text
    assert (await system.gateway.get("/v1/ops/auth/passkeys", headers=bearer(tokens))).status_code in (401, 403)


async def test_customer_and_staff_passkeys_never_answer_for_each_other(system: System, sms: SmsSink) -> None:
    await open_account(system.gateway)
    customer = await full_login(system, sms)
    customer_key = SoftAuthenticator()
    asked = await system.gateway.post("/v1/me/passkeys/registration", headers=bearer(customer))
    grant = await grant_by_sms(system, sms, asked.json()["challenge"]["id"])
    started = await system.gateway.post(
        "/v1/me/passkeys/registration", headers=bearer(customer, **{"Step-Up-Grant": grant})
    )
    kept = await system.gateway.post(
        f"/v1/me/passkeys/registration/{started.json()['registration_id']}",
        json={"credential": customer_key.create(started.json()["options"])},
        headers=bearer(customer),
    )
    assert kept.status_code == 201, kept.text

    member = await make_staff(system, "analyst.keys", "analyst")
    staff_key = SoftAuthenticator()
    await register(system, await staff_tokens(system, member), staff_key)
    challenge = await password_step(system, member)
    by_customer_key = await answer(system, challenge, customer_key.get(challenge["passkey"]))
    assert (by_customer_key.status_code, by_customer_key.json()["code"]) == (401, "challenge_failed")

    login_options = (await system.gateway.post("/v1/auth/passkeys/options", json={})).json()
    as_customer = await system.gateway.post(
        "/v1/auth/passkeys/login",
        json={
            "authentication_id": login_options["authentication_id"],
            "credential": staff_key.get(login_options["options"]),
            "device_id": "browser-0001",
        },
    )
    assert (as_customer.status_code, as_customer.json()["code"]) == (401, "passkey_invalid")
