"""The customer is told when their password is entered on a device they never confirmed (JFSA 2(2) login ②, seed 1:
a stolen password typed into a criminal's phone). The login still waits for the second factor; the notice reaches
the customer whether or not the stranger ever asks for a code, at most once an hour however often it is tried."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.auth import accounts
from shared.contracts.notifications import EventType, SuspiciousActivityData
from shared.crypto import FieldCipher
from shared.events import record_event
from shared.notifications import send_notification
from shared.outbox import Outbox
from shared.statements import Statements

SUMMARY = {
    "ja": "新しい端末でお客さまのパスワードが入力されました。"
    "お客さまご本人でなければ、パスワードが第三者に知られています。"
    "確認コードは誰にも伝えず、すぐにパスワードを変更してください。",
    "en": "Your password was entered on a device we do not know. If this was not you, someone knows your password: "
    "never give anyone the confirmation code, and change your password now.",
}


async def warn_of_password_on_new_device(
    statements: Statements,
    row: Any,
    *,
    cipher: FieldCipher,
    outbox: Outbox,
    now: datetime,
    ip: str,
    device_key: str,
) -> None:
    contact = accounts.contact_of(row, cipher)
    await send_notification(
        outbox,
        statements,
        key=f"auth:password-new-device:{row.id}:{now.strftime('%Y-%m-%dT%H')}",
        event_type=EventType.SUSPICIOUS_ACTIVITY,
        customer_id=row.id,
        language=contact.language,
        email=contact.email,  # the phone gets the code itself when one is asked for: e-mail is the second channel
        data=SuspiciousActivityData.model_construct(at=now, summary=SUMMARY.get(contact.language, SUMMARY["ja"])),
        once=True,
    )
    await record_event(
        outbox,
        statements,
        type="password_on_new_device",
        occurred_at=now,
        customer_id=row.id,
        ip=ip,
        data={"device_key": device_key},
    )
