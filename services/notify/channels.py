"""The ways out: email over SMTP, SMS through the provider's HTTP API. Letters and the dev mailbox are
database writes and live in delivery.py beside the delivery they complete.

Each sender raises ChannelError on failure; the delivery worker decides whether and when to retry.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import httpx

from services.notify.settings import NotifySettings

DELIVERY_HEADER = "X-Sekisho-Delivery"


class ChannelError(Exception):
    """The channel did not take the message; `permanent` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class EmailSender:
    def __init__(self, settings: NotifySettings) -> None:
        assert settings.smtp_host is not None
        self.settings = settings

    async def send(self, *, delivery_id: str, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(idstring=delivery_id.replace("_", "-"), domain="sekisho.invalid")
        message[DELIVERY_HEADER] = delivery_id  # lets the receiving side (and the tests) spot a redelivery
        message.set_content(body, charset="utf-8")
        password = self.settings.smtp_password.get_secret_value() if self.settings.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                start_tls=self.settings.smtp_starttls,
                username=self.settings.smtp_username,
                password=password,
                timeout=self.settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"SMTP refused the recipient: {exc}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}") from exc


class SmsSender:
    """POST {"to", "body"} to the provider; any 2xx means it took the message (API.md)."""

    def __init__(self, settings: NotifySettings) -> None:
        assert settings.sms_url is not None
        self.url = settings.sms_url
        self.http = httpx.AsyncClient(timeout=settings.sms_timeout_seconds)

    async def send(self, *, delivery_id: str, to: str, body: str) -> None:
        try:
            response = await self.http.post(
                self.url, json={"to": to, "body": body}, headers={DELIVERY_HEADER: delivery_id}
            )
        except httpx.HTTPError as exc:
            raise ChannelError(f"SMS provider: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429)
        raise ChannelError(f"SMS provider answered HTTP {response.status_code}", permanent=permanent)

    async def aclose(self) -> None:
        await self.http.aclose()
