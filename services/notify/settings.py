"""Settings of the notify service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.production import is_loopback_host
from shared.settings import ServiceSettings

DEV_SMTP_FROM = "no-reply@sekisho.invalid"
DEV_SUPPORT_PHONE = "0120-000-000"


class NotifySettings(ServiceSettings):
    # Email over SMTP (plain; STARTTLS and auth when configured).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = DEV_SMTP_FROM
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    # SMS through an HTTP provider: POST {"to", "body"}, any 2xx is accepted.
    sms_url: str | None = None
    sms_timeout_seconds: float = Field(default=5.0, gt=0)

    # Who the customer is told to contact (RESP-2).
    company_name: str = "sekisho"
    support_phone: str = DEV_SUPPORT_PHONE  # a placeholder: production sets it
    support_hours: str = "9:00-21:00"

    # Security notices that also go by SMS, whatever the customer chose (API.md "where the policy says so"). A password
    # reset is proven with the inbox: the phone's owner must hear of it whoever holds the inbox.
    sms_events: list[str] = Field(
        default_factory=lambda: [
            "account_locked",
            "withdrawal_completed",
            "bank_account_linked",
            "suspicious_activity",
            # The device removed is most often the phone itself: its owner hears of it even with the app signed out.
            "device_removed",
            "password_reset",
            # SEC-3: the phone may be infected, and its owner may not open the app again: they hear of it by SMS too.
            "device_infected",
        ]
    )

    # Delivery: at least once, exponential backoff, then dead (kept, visible to staff).
    delivery_max_attempts: int = Field(default=12, ge=1, le=100)
    delivery_retry_base_seconds: float = Field(default=1.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=300.0, gt=0)
    delivery_concurrency: int = Field(default=10, ge=1, le=200)
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_lease_seconds: float = Field(default=60.0, gt=0)

    @property
    def dev_mailbox(self) -> bool:
        """With neither SMTP nor SMS configured, messages go to the dev mailbox (`sekisho mailbox`)."""
        return self.smtp_host is None and self.sms_url is None

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.smtp_host is None:
            problems.append("SEKISHO_SMTP_HOST is not set: e-mail would go to the dev mailbox instead of customers")
        elif not self.smtp_starttls and not is_loopback_host(self.smtp_host):
            problems.append(
                f"SEKISHO_SMTP_STARTTLS is off: codes and notices would cross the network to {self.smtp_host} in "
                "clear text (set it to true, or relay through a local MTA on 127.0.0.1)"
            )
        if self.sms_url is None:
            problems.append("SEKISHO_SMS_URL is not set: SMS would go to the dev mailbox instead of customers' phones")
        if self.smtp_from == DEV_SMTP_FROM or self.smtp_from.lower().endswith(".invalid"):
            problems.append(f"SEKISHO_SMTP_FROM is {self.smtp_from!r}: set the company's own sender address")
        if self.support_phone == DEV_SUPPORT_PHONE:
            problems.append(
                f"SEKISHO_SUPPORT_PHONE is the placeholder {DEV_SUPPORT_PHONE}: customers are told to call it (RESP-2)"
            )
        return problems
