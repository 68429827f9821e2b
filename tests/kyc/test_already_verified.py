"""KYC-3: a customer whose identity is verified is recognised as such (no second proof), and only through strong
authentication: a password-only session is asked to step up before kyc says anything; a change of a verified
attribute (auth's reverification_required) opens the way to a new case."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sekisho.sinks import SmsSink
from services.kyc import models
from tests.auth.test_api_login import grant_by_sms, login
from tests.harness import System
from tests.kyc.conftest import ekyc_body, kyc_rows, start
from tests.kyc.test_api_postal import enter, mailed_code, started_postal
from tests.servers import eventually_async


async def verified_by_post(system: System, sms: SmsSink) -> tuple[dict[str, str], str]:
    headers, verification_id = await started_postal(system, sms)
    status, body = await enter(system, headers, verification_id, await mailed_code(system))
    assert (status, body["status"]) == (200, "approved"), body

    async def relayed() -> bool:
        return all(r.synced_at is not None for r in await kyc_rows(system, models.kyc_status_sync))

    await eventually_async(relayed)
    me = await system.gateway.get("/v1/me", headers=headers)
    assert me.json()["kyc_status"] == "verified"
    return headers, verification_id


async def stepped_up(
    system: System, sms: SmsSink, method: str, path: str, headers: dict[str, str], json: Any = None
) -> httpx.Response:
    """The request, and again with a grant when the gateway asks for a step-up."""
    response = await system.gateway.request(method, path, headers=headers, json=json)
    if response.status_code == 401 and response.json().get("code") == "step_up_required":
        grant = await grant_by_sms(system, sms, response.json()["challenge"]["id"])
        response = await system.gateway.request(method, path, headers={**headers, "Step-Up-Grant": grant}, json=json)
    return response


@pytest.mark.req("KYC-3")
async def test_a_verified_customer_is_recognised_only_through_strong_authentication(
    system: System, sms: SmsSink
) -> None:
    headers, verification_id = await verified_by_post(system, sms)
    cases = len(await kyc_rows(system, models.verification_case))

    # Signed in with password and SMS: recognised, whichever method they try.
    for body in ({"method": "postal"}, {"method": "jpki"}, ekyc_body()):
        again = await start(system, headers, body)
        assert (again.status_code, again.json()["code"]) == (409, "already_verified"), again.text
    assert len(await kyc_rows(system, models.verification_case)) == cases

    # Signed in with the password alone (a known device): kyc is not reached, neither the case nor a new start.
    password_only = await login(system.gateway)
    assert password_only.status_code == 200, password_only.text
    weak = {"Authorization": f"Bearer {password_only.json()['access_token']}"}
    for response in (
        await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=weak),
        await start(system, weak, {"method": "postal"}),
    ):
        assert (response.status_code, response.json()["code"]) == (401, "step_up_required"), response.text
        assert "approved" not in response.text
        assert "already_verified" not in response.text
    # The same session, stepped up with the SMS code: now recognised.
    strong = await stepped_up(system, sms, "POST", "/v1/kyc/verifications", weak, json={"method": "postal"})
    assert (strong.status_code, strong.json()["code"]) == (409, "already_verified"), strong.text
    view = await stepped_up(system, sms, "GET", f"/v1/kyc/verifications/{verification_id}", weak)
    assert (view.status_code, view.json()["status"]) == (200, "approved"), view.text
    assert len(await kyc_rows(system, models.verification_case)) == cases

    # A new address sends the customer back to re-verification: a new case is allowed.
    moved = await stepped_up(
        system, sms, "PATCH", "/v1/me", headers, json={"address": "〒530-0001 大阪府大阪市北区梅田3-1-1"}
    )
    assert moved.status_code == 200, moved.text
    me = await system.gateway.get("/v1/me", headers=headers)
    assert me.json()["kyc_status"] == "reverification_required"
    new = await start(system, headers, {"method": "postal"})
    assert (new.status_code, new.json()["status"]) == (202, "checking"), new.text
