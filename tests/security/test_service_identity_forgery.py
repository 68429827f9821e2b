"""Issue 13 item 7: one service's key must not let anyone speak as another service, or for an end user.

Before, every service signed its identity with one shared HMAC secret: anyone holding fraud's secret minted
`iss=gateway` with an admin staff context and read a customer's full data from auth. Now each service signs with an
Ed25519 key of its own, a receiver checks a token from X only with X's public keys, only the gateway may carry an
end user's context, and each route answers only the services that legitimately call it. Every attack goes over
HTTP to the running services' apps, as a compromised service (or a thief of its key) would send it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import System, client_for, identity_issuer, identity_keys_for_tests

ADMIN = {
    "subject": "stf_forged",
    "subject_type": "staff",
    "role": "admin",
    "session_id": "ses_forged",
    "client_ip": "192.0.2.10",
}


def signed_with(key_of: str, *, caller: str, system: System) -> IdentityIssuer:
    """An issuer naming `caller` but holding the key of `key_of`: what a thief of `key_of`'s key can make."""
    return IdentityIssuer(service=caller, key=identity_keys_for_tests()[key_of], clock=system.clock)


async def call(system: System, service: str, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with client_for(system.apps[service]) as client:
        return await client.request(method, path, headers={IDENTITY_HEADER: token}, **kwargs)


async def test_frauds_key_cannot_mint_a_gateway_identity_with_an_admin_context(system: System) -> None:
    customer_id = await open_account(system.gateway)
    forged = signed_with("fraud", caller="gateway", system=system).issue("auth", ADMIN)
    read = await call(system, "auth", forged, "GET", f"/v1/ops/customers/{customer_id}", params={"full": "true"})
    assert read.status_code == 401
    assert read.json()["code"] == "service_identity_invalid"
    assert CUSTOMER["email"] not in read.text
    # The same forgery towards the other staff data: notify's deliveries and fraud's lists.
    to_notify = signed_with("fraud", caller="gateway", system=system).issue("notify", ADMIN)
    assert (await call(system, "notify", to_notify, "GET", "/internal/notifications")).status_code == 401
    to_fraud = signed_with("txn", caller="gateway", system=system).issue("fraud", ADMIN)
    assert (await call(system, "fraud", to_fraud, "GET", "/internal/ops/lists/ips/entries")).status_code == 401


async def test_a_service_other_than_the_gateway_cannot_carry_an_end_users_context(system: System) -> None:
    customer_id = await open_account(system.gateway)
    as_fraud = identity_issuer("fraud", system.clock).issue("auth", ADMIN)
    read = await call(system, "auth", as_fraud, "GET", f"/v1/ops/customers/{customer_id}", params={"full": "true"})
    assert read.status_code == 401
    assert read.json()["code"] == "service_identity_invalid"
    assert "Only the gateway" in read.json()["detail"]
    customer = {"subject": customer_id, "subject_type": "customer", "session_id": "ses_x", "factors": []}
    as_kyc = identity_issuer("kyc", system.clock).issue("auth", customer)
    assert (await call(system, "auth", as_kyc, "GET", "/v1/me")).status_code == 401


async def test_a_token_signed_with_another_services_key_for_the_right_caller_is_refused(system: System) -> None:
    customer_id = await open_account(system.gateway)
    # Only fraud may ask auth to lock a customer: notify's key, naming fraud, is not fraud.
    forged = signed_with("notify", caller="fraud", system=system).issue("auth")
    lock = await call(
        system,
        "auth",
        forged,
        "POST",
        f"/internal/customers/{customer_id}/fraud-actions",
        json={"action": "lock", "score_id": "scr_forged"},
    )
    assert lock.status_code == 401
    assert lock.json()["code"] == "service_identity_invalid"
    login = await system.gateway.post(
        "/v1/auth/login",
        json={"login_id": CUSTOMER["email"], "password": CUSTOMER["password"], "device_id": "device-iphone-0001"},
    )
    assert (login.status_code, login.json()["code"]) == (401, "mfa_required")  # not locked (423)


async def test_each_route_answers_only_the_services_that_call_it(system: System) -> None:
    # fraud's own, valid identity: it may send events and ask auth for actions, nothing else below.
    as_fraud = identity_issuer("fraud", system.clock)
    login = await call(
        system,
        "auth",
        as_fraud.issue("auth"),
        "POST",
        "/v1/auth/login",
        json={"login_id": CUSTOMER["email"], "password": CUSTOMER["password"], "device_id": "d"},
    )
    assert (login.status_code, login.json()["code"]) == (403, "forbidden")
    phishing = {
        "idempotency_key": "fraud:phish:1",
        "event_type": "suspicious_activity",
        "language": "ja",
        "to": {"email": "victim@example.jp"},
        "data": {"at": datetime.now(UTC).isoformat(), "summary": "Call 0120-xxx now"},
    }
    sent = await call(system, "notify", as_fraud.issue("notify"), "POST", "/internal/notifications", json=phishing)
    assert (sent.status_code, sent.json()["code"]) == (403, "forbidden")
    keys = await call(system, "auth", identity_issuer("notify", system.clock).issue("auth"), "GET", "/internal/keys")
    assert keys.status_code == 403
    score = await call(system, "fraud", identity_issuer("kyc", system.clock).issue("fraud"), "POST", "/score", json={})
    assert score.status_code == 403  # the gateway and txn (before money moves) ask for scores; kyc never does
    # The callers they are meant for are still answered.
    assert (
        await call(system, "auth", identity_issuer("gateway", system.clock).issue("auth"), "GET", "/internal/keys")
    ).status_code == 200
    queued = await call(
        system, "notify", identity_issuer("auth", system.clock).issue("notify"), "POST", "/internal/notifications",
        json={**phishing, "idempotency_key": "auth:notice:1"},
    )  # fmt: skip
    assert queued.status_code == 201, queued.text


async def test_the_gateway_still_carries_a_signed_in_admin_to_the_customers_full_data(system: System) -> None:
    customer_id = await open_account(system.gateway)
    token = await staff_token(system, await make_staff(system, "admin.kudo", "admin"))
    read = await system.gateway.get(
        f"/v1/ops/customers/{customer_id}",
        params={"full": "true", "reason": "fraud investigation"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert read.status_code == 200, read.text
    assert read.json()["email"] == CUSTOMER["email"]


async def test_no_public_route_answers_another_service_posing_as_the_gateway(system: System) -> None:
    """Every route of the gateway's table, called at its own service by each other service with its own valid key
    (so without the gateway's context): never answered with success, whatever the route (issue 16's and txn's
    included). Most are refused at once (401/403); fraud's staff routes check their body and path first, so a
    forged call with a bad one gets 422, and with a good one the staff context it cannot carry (401)."""
    from services.gateway.routes import PUBLIC_ROUTES

    answered: list[str] = []
    for route in PUBLIC_ROUTES:
        if route.service == "gateway":
            continue
        path = route.upstream(dict.fromkeys(route.pattern.groupindex, "x_forged"))
        for caller in ("auth", "kyc", "txn", "fraud", "notify"):
            if caller == route.service:
                continue
            token = identity_issuer(caller, system.clock).issue(route.service)
            response = await call(system, route.service, token, route.method, path, json={})
            if response.status_code < 400 or response.status_code not in (401, 403, 422):
                answered.append(f"{route.method} {path} at {route.service} as {caller}: {response.status_code}")
    assert answered == [], "\n".join(answered)
    # With a well-formed path, the staff route of fraud refuses the forged caller itself.
    as_auth = identity_issuer("auth", system.clock).issue("fraud")
    rule_set = await call(system, "fraud", as_auth, "GET", "/internal/ops/rule-sets/1")
    assert rule_set.status_code in (401, 403), rule_set.text
