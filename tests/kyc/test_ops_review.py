"""The staff review queue through the gateway: list by status, view masked (images only for the allowed role), every
view audited, approve or reject with a reason only from manual review, and the customer told."""

from __future__ import annotations

from typing import Any

from sekisho.sinks import SmsSink, SmtpSink
from services.kyc import models
from tests.auth.conftest import CUSTOMER
from tests.harness import System
from tests.kyc.conftest import b64, ekyc_body, jpeg, kyc_messages, kyc_rows, signed_in, staff_headers, start
from tests.servers import eventually, eventually_async


async def in_review(system: System, sms: SmsSink, **account: str) -> tuple[dict[str, str], str]:
    headers = await signed_in(system, sms, **account)
    response = await start(system, headers, ekyc_body())
    assert response.json()["status"] == "manual_review", response.text
    return headers, response.json()["verification_id"]


async def audit_entries(system: System, admin: dict[str, str], action: str) -> list[dict[str, Any]]:
    response = await system.gateway.get("/v1/ops/audit", params={"action": action}, headers=admin)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_an_analyst_reviews_masked_data_approves_and_the_customer_is_told(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    customer, verification_id = await in_review(system, sms)
    analyst = await staff_headers(system, "analyst.kato", "analyst")

    queue = await system.gateway.get("/v1/ops/kyc/verifications", params={"status": "manual_review"}, headers=analyst)
    assert queue.status_code == 200, queue.text
    assert [v["verification_id"] for v in queue.json()["verifications"]] == [verification_id]
    view = await system.gateway.get(f"/v1/ops/kyc/verifications/{verification_id}", headers=analyst)
    assert view.status_code == 200, view.text
    declared = view.json()["declared"]
    assert CUSTOMER["name"] not in view.text
    assert declared["name"].startswith("佐")
    assert "六本木" not in declared["address"]
    assert declared["address"].endswith("…")
    assert declared["birth_date"] == "1990-**-**"
    assert all("content" not in image for image in view.json()["images"])
    assert [t["to"] for t in view.json()["transitions"]] == ["submitted", "checking", "manual_review"]

    approved = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{verification_id}/approve", json={"reason": "document matches"}, headers=analyst
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    mine = await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=customer)
    assert mine.json()["status"] == "approved"
    (identity,) = await kyc_rows(system, models.verified_identity)
    assert identity.method == "ekyc"
    (sync,) = await kyc_rows(system, models.kyc_status_sync)
    assert sync.status == "verified"
    await eventually(lambda: any("本人確認完了" in (m["Subject"] or "") for m in smtp.to(CUSTOMER["email"])))
    (decision,) = [r for r in await kyc_rows(system, models.verification_transition) if r.to_status == "approved"]
    assert decision.actor not in ("system", "customer")  # the analyst's staff id
    assert decision.reason == "document matches"
    assert "kyc_approved" in {m["type"] for m in await kyc_messages(system, "fraud")}

    twice = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{verification_id}/reject", json={"reason": "x"}, headers=analyst
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "verification_not_in_review"


async def test_images_only_for_supervisors_and_every_view_is_audited(system: System, sms: SmsSink) -> None:
    _, verification_id = await in_review(system, sms)
    analyst = await staff_headers(system, "analyst.mori", "analyst")
    supervisor = await staff_headers(system, "supervisor.ito", "supervisor")
    admin = await staff_headers(system, "admin.ueda", "admin")

    refused = await system.gateway.get(
        f"/v1/ops/kyc/verifications/{verification_id}", params={"images": "true"}, headers=analyst
    )
    assert refused.status_code == 403
    assert b64(jpeg()) not in refused.text
    full = await system.gateway.get(
        f"/v1/ops/kyc/verifications/{verification_id}", params={"images": "true"}, headers=supervisor
    )
    assert full.status_code == 200, full.text
    front = next(image for image in full.json()["images"] if image["kind"] == "front")
    assert front["content"] == b64(jpeg())
    assert full.json()["declared"]["name"] == CUSTOMER["name"]
    masked = await system.gateway.get(f"/v1/ops/kyc/verifications/{verification_id}", headers=analyst)
    assert masked.status_code == 200

    async def audited() -> bool:
        views = await audit_entries(system, admin, "kyc.view")
        images = await audit_entries(system, admin, "kyc.images_view")
        return len(views) == 1 and len(images) == 1

    await eventually_async(audited, within=15)
    (image_view,) = await audit_entries(system, admin, "kyc.images_view")
    assert image_view["target_id"] == verification_id
    assert image_view["actor_role"] == "supervisor"
    (view,) = await audit_entries(system, admin, "kyc.view")
    assert view["actor_role"] == "analyst"


async def test_a_rejection_needs_a_reason_and_the_customer_is_told_it(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    customer, verification_id = await in_review(system, sms)
    analyst = await staff_headers(system, "analyst.abe", "analyst")
    path = f"/v1/ops/kyc/verifications/{verification_id}/reject"
    for body in ({}, {"reason": ""}):
        refused = await system.gateway.post(path, json=body, headers=analyst)
        assert refused.status_code == 422
    assert (await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=customer)).json()[
        "status"
    ] == "manual_review"
    reason = "The photo of the licence is too blurred to read."
    rejected = await system.gateway.post(path, json={"reason": reason}, headers=analyst)
    assert rejected.status_code == 200, rejected.text
    mine = await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=customer)
    assert (mine.json()["status"], mine.json()["reason"]) == ("rejected", reason)
    await eventually(lambda: any(reason in m.get_content() for m in smtp.to(CUSTOMER["email"])))
    assert await kyc_rows(system, models.verified_identity) == []
    approve = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{verification_id}/approve", json={}, headers=analyst
    )
    assert approve.status_code == 409


async def test_customers_cannot_reach_the_queue_and_pages_follow_on(system: System, sms: SmsSink) -> None:
    customer, first = await in_review(system, sms)
    _, second = await in_review(system, sms, email="taro.suzuki@example.jp", phone="080-2222-3333")
    as_customer = await system.gateway.get("/v1/ops/kyc/verifications", headers=customer)
    assert as_customer.status_code in (401, 403)
    approve = await system.gateway.post(f"/v1/ops/kyc/verifications/{first}/approve", json={}, headers=customer)
    assert approve.status_code in (401, 403)
    assert (await system.gateway.get(f"/v1/kyc/verifications/{first}", headers=customer)).json()[
        "status"
    ] == "manual_review"

    analyst = await staff_headers(system, "analyst.oda", "analyst")
    page = await system.gateway.get("/v1/ops/kyc/verifications", params={"limit": 1}, headers=analyst)
    assert [v["verification_id"] for v in page.json()["verifications"]] == [first]
    following = await system.gateway.get(
        "/v1/ops/kyc/verifications", params={"limit": 1, "after": page.json()["next"]}, headers=analyst
    )
    assert [v["verification_id"] for v in following.json()["verifications"]] == [second]
    approved = await system.gateway.get("/v1/ops/kyc/verifications", params={"status": "approved"}, headers=analyst)
    assert approved.json()["verifications"] == []
