"""Notifications reach the customer: every event type, both languages, through real SMTP, SMS and post."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notify import models
from shared.contracts.notifications import EventType
from shared.crypto import FieldCipher
from shared.database import Database, target_for
from tests.harness import Backend
from tests.notify.conftest import staff
from tests.notify.samples import EMAIL, PHONE, SAMPLES
from tests.servers import SmsSink, SmtpSink


def request_for(event: EventType, language: str = "ja", key: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": key or f"test:{event.value}:{language}",
        "event_type": event.value,
        "customer_id": "cus_test",
        "language": language,
        "to": {"email": EMAIL, "phone": PHONE},
        "data": SAMPLES[event],
    }
    if event is EventType.ONE_TIME_CODE:
        body["channel"] = "sms"
    body.update(extra)
    return body


async def wait_sent(notify: httpx.AsyncClient, notification_id: str) -> dict[str, Any]:
    view: dict[str, Any] = {}

    async def sent() -> bool:
        nonlocal view
        view = (await notify.get(f"/internal/notifications/{notification_id}", headers=staff())).json()
        return all(d["status"] == "sent" for d in view["deliveries"])

    for _ in range(500):
        if await sent():
            return view
        await asyncio.sleep(0.02)
    raise AssertionError(f"not sent: {view}")


# The notices that go by SMS too whatever the customer chose (notify's sms_events): a removed device is most often the
# phone itself, whose owner must hear of it with the app signed out.
SMS_TOO = (
    "account_locked",
    "withdrawal_completed",
    "bank_account_linked",
    "suspicious_activity",
    "device_removed",
    "password_reset",
    "device_infected",
)


@pytest.mark.req("AUTH-LOGIN-2", "AUTH-ATTR-2")
@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("event", list(EventType))
async def test_every_event_type_renders_and_arrives(
    notify: httpx.AsyncClient, smtp: SmtpSink, sms: SmsSink, backend: Backend, event: EventType, language: str
) -> None:
    response = await notify.post("/internal/notifications", json=request_for(event, language))
    assert response.status_code == 201, response.text
    view = await wait_sent(notify, response.json()["id"])
    channels = sorted(d["channel"] for d in view["deliveries"])
    if event is EventType.KYC_POSTAL_CODE:
        assert channels == ["post"]
        assert smtp.messages == []
        assert sms.received == []
        return
    if event is EventType.ONE_TIME_CODE:
        assert channels == ["sms"]
        assert "482913" in sms.received[0].body
        return
    assert "email" in channels
    (message,) = smtp.to(EMAIL)
    assert message["Subject"]
    assert message.get_content().strip()
    if event.value in SMS_TOO:
        assert channels == ["email", "sms"]
        assert sms.received[0].to == PHONE
        assert sms.received[0].body
    else:
        assert channels == ["email"]


@pytest.mark.req("DATA-1", "DATA-2")
async def test_a_postal_code_letter_is_stored_sealed_for_printing_with_the_full_address(
    notify: httpx.AsyncClient, backend: Backend
) -> None:
    response = await notify.post("/internal/notifications", json=request_for(EventType.KYC_POSTAL_CODE))
    view = await wait_sent(notify, response.json()["id"])
    (delivery,) = view["deliveries"]
    assert delivery["recipient"].startswith("〒530…")  # staff see it masked
    assert "梅田ハイツ" not in delivery["recipient"]
    database = Database(target_for(backend.settings("notify"), "notify"))
    cipher = FieldCipher(backend.settings("notify").require_data_keys())
    try:
        async with database.transaction() as session:
            (letter,) = (await session.execute(select(models.letter))).all()
    finally:
        await database.dispose()
    assert "梅田ハイツ" not in letter.address  # sealed at rest
    assert "大阪府大阪市北区梅田1-1-1 梅田ハイツ101" in cipher.open(letter.address, context="letter.address")
    assert "K7Q2M9XA" in cipher.open(letter.body, context="letter.body")


@pytest.mark.req("AUTH-OTP-1", "AUTH-OTP-2")
async def test_a_one_time_code_by_email_goes_only_by_email_with_the_caution(
    notify: httpx.AsyncClient, smtp: SmtpSink, sms: SmsSink
) -> None:
    body = request_for(EventType.ONE_TIME_CODE, "en", channel="email")
    view = await wait_sent(notify, (await notify.post("/internal/notifications", json=body)).json()["id"])
    assert [d["channel"] for d in view["deliveries"]] == ["email"]
    (message,) = smtp.to(EMAIL)
    assert "482913" in message.get_content()
    assert "never ask" in message.get_content()
    assert sms.received == []
