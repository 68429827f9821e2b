"""An approval after the customer changed their declared identity in auth vouches for nothing: the proof was checked
against the identity the case was opened with (the letter went to the old address, the documents show it). At the
approval kyc asks auth afresh; a difference rejects the case with that reason, and nothing is verified or relayed."""

from __future__ import annotations

from typing import Any

import httpx

from sekisho.sinks import SmsSink
from services.kyc import models
from tests.auth.test_api_login import grant_by_sms
from tests.harness import System
from tests.kyc.conftest import ekyc_body, kyc_messages, kyc_rows, signed_in, staff_headers, start
from tests.kyc.test_api_postal import enter, mailed_code, started_postal

NEW_ADDRESS = "〒530-0001 大阪府大阪市北区梅田3-1-1"


async def move_house(system: System, sms: SmsSink, headers: dict[str, str]) -> None:
    change: dict[str, Any] = {"address": NEW_ADDRESS}
    changed: httpx.Response = await system.gateway.patch("/v1/me", json=change, headers=headers)
    if changed.status_code == 401:  # the policy may step the change up: answer it
        grant = await grant_by_sms(system, sms, changed.json()["challenge"]["id"])
        changed = await system.gateway.patch("/v1/me", json=change, headers={**headers, "Step-Up-Grant": grant})
    assert changed.status_code == 200, changed.text


async def rejected_for_the_change(system: System, headers: dict[str, str], verification_id: str) -> None:
    view = await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=headers)
    assert view.json()["status"] == "rejected"
    assert "declared identity changed" in view.json()["reason"]
    assert "address" in view.json()["reason"]
    assert await kyc_rows(system, models.verified_identity) == []
    assert await kyc_rows(system, models.kyc_status_sync) == []
    notices = [m["event_type"] for m in await kyc_messages(system, "notify") if m["event_type"].startswith("kyc_")]
    assert "kyc_rejected" in notices
    assert "kyc_approved" not in notices


async def test_the_right_postal_code_after_an_address_change_does_not_verify_the_old_address(
    system: System, sms: SmsSink
) -> None:
    headers, verification_id = await started_postal(system, sms)
    code = await mailed_code(system)
    await move_house(system, sms, headers)
    status, body = await enter(system, headers, verification_id, code)
    assert (status, body["status"]) == (200, "rejected"), body
    await rejected_for_the_change(system, headers, verification_id)
    # The customer may prove the new address.
    again = await start(system, headers, {"method": "postal"})
    assert again.status_code == 202, again.text


async def test_a_staff_approval_after_an_address_change_rejects_the_case(system: System, sms: SmsSink) -> None:
    headers = await signed_in(system, sms)
    started = await start(system, headers, ekyc_body())
    verification_id = started.json()["verification_id"]
    await move_house(system, sms, headers)
    staff = await staff_headers(system, "reviewer.race", "analyst")
    decided = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{verification_id}/approve", json={"reason": "documents match"}, headers=staff
    )
    assert (decided.status_code, decided.json()["status"]) == (200, "rejected"), decided.text
    await rejected_for_the_change(system, headers, verification_id)


async def test_an_unchanged_identity_is_approved(system: System, sms: SmsSink) -> None:
    headers, verification_id = await started_postal(system, sms)
    status, body = await enter(system, headers, verification_id, await mailed_code(system))
    assert (status, body["status"]) == (200, "approved"), body
    assert len(await kyc_rows(system, models.verified_identity)) == 1
