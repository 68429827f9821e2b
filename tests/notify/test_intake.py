"""Accepting notifications: idempotent, validated, channels chosen by policy and preference, visible to staff."""

from __future__ import annotations

import httpx
import pytest

from shared.contracts.notifications import EventType
from tests.notify.conftest import identity_for, staff
from tests.notify.samples import EMAIL, PHONE, SAMPLES
from tests.notify.test_delivery import request_for, wait_sent
from tests.servers import SmsSink, SmtpSink


async def test_a_redelivered_request_is_accepted_once_and_sent_once(notify: httpx.AsyncClient, smtp: SmtpSink) -> None:
    body = request_for(EventType.PASSWORD_CHANGED, key="auth:pw:cus_test:1")
    first = await notify.post("/internal/notifications", json=body)
    second = await notify.post("/internal/notifications", json=body, headers={"Idempotency-Key": "auth:pw:cus_test:1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    await wait_sent(notify, first.json()["id"])
    assert len(smtp.to(EMAIL)) == 1


async def test_the_same_key_for_another_notification_is_a_conflict(notify: httpx.AsyncClient) -> None:
    await notify.post("/internal/notifications", json=request_for(EventType.PASSWORD_CHANGED, key="k:conflict:1"))
    response = await notify.post("/internal/notifications", json=request_for(EventType.MFA_CHANGED, key="k:conflict:1"))
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"


async def test_invalid_event_data_lists_every_violation_and_stores_nothing(notify: httpx.AsyncClient) -> None:
    body = request_for(EventType.WITHDRAWAL_COMPLETED, key="k:invalid:1")
    body["data"] = {**SAMPLES[EventType.WITHDRAWAL_COMPLETED], "amount": -1, "atm": None}
    response = await notify.post("/internal/notifications", json=body)
    assert response.status_code == 422
    assert sorted(v["field"] for v in response.json()["violations"]) == ["data.amount", "data.atm"]
    assert (
        await notify.get("/internal/notifications", params={"customer_id": "cus_test"}, headers=staff())
    ).json() == []


async def test_a_notification_without_any_contact_is_refused(notify: httpx.AsyncClient) -> None:
    response = await notify.post(
        "/internal/notifications", json=request_for(EventType.PASSWORD_CHANGED, key="k:nocontact", to={})
    )
    assert response.status_code == 422
    assert response.json()["code"] == "no_contact"


async def test_a_malformed_phone_number_is_a_validation_problem(notify: httpx.AsyncClient) -> None:
    body = request_for(EventType.PASSWORD_CHANGED, key="k:phone:1", to={"email": EMAIL, "phone": "090-1234-5678"})
    response = await notify.post("/internal/notifications", json=body)
    assert response.status_code == 422
    assert response.json()["violations"][0]["field"] == "to.phone"


async def test_a_customer_may_add_sms_to_email_but_switch_nothing_off(
    notify: httpx.AsyncClient, smtp: SmtpSink, sms: SmsSink
) -> None:
    before = await notify.post("/internal/notifications", json=request_for(EventType.PASSWORD_CHANGED, key="k:pref:1"))
    assert [d["channel"] for d in before.json()["deliveries"]] == ["email"]
    # A customer's preference reaches notify through the gateway alone.
    preference = await notify.put("/internal/preferences/cus_test", json={"sms": True}, headers=identity_for("gateway"))
    assert preference.json()["always_on"] == [event.value for event in EventType]
    after = await notify.post("/internal/notifications", json=request_for(EventType.PASSWORD_CHANGED, key="k:pref:2"))
    assert [d["channel"] for d in after.json()["deliveries"]] == ["email", "sms"]
    await wait_sent(notify, after.json()["id"])
    assert [m.to for m in sms.received] == [PHONE]
    refused = await notify.put(
        "/internal/preferences/cus_test", json={"sms": False, "email": False}, headers=identity_for("gateway")
    )
    assert refused.status_code == 422  # email cannot be switched off: there is no such field to set


@pytest.mark.req("DATA-1")
async def test_staff_see_each_delivery_status_with_masked_recipients(notify: httpx.AsyncClient) -> None:
    response = await notify.post("/internal/notifications", json=request_for(EventType.ACCOUNT_LOCKED, key="k:staff:1"))
    await wait_sent(notify, response.json()["id"])
    listed = (
        await notify.get(
            "/internal/notifications", params={"customer_id": "cus_test", "status": "sent"}, headers=staff()
        )
    ).json()
    (notification,) = listed
    recipients = sorted(d["recipient"] for d in notification["deliveries"])
    assert recipients == ["***-****-5678", "t***@example.jp"]
    assert EMAIL not in str(listed)
    assert PHONE not in str(listed)
    detail = (await notify.get(f"/internal/notifications/{notification['id']}", headers=staff())).json()
    assert all(d["history"][0]["outcome"] == "sent" for d in detail["deliveries"])
    assert (await notify.get("/internal/notifications/ntf_missing", headers=staff())).status_code == 404


@pytest.mark.req("DATA-3")
async def test_delivery_status_is_for_staff_only(notify: httpx.AsyncClient) -> None:
    as_producer = await notify.get("/internal/notifications")  # the client's own identity: auth, a producer
    assert as_producer.status_code == 401
    as_customer_service = await notify.get("/internal/notifications", headers=staff(role="none"))
    assert as_customer_service.status_code == 403
