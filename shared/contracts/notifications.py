"""auth, kyc (and txn) → notify: a notice to a customer, sent through the producer's outbox.

- `POST /internal/notifications` (notify; auth, kyc, txn) with `NotificationRequest` → 201 accepted, 200 the same
  request accepted before, 409 the same key with another request, 422 a request or data notify refuses.
shared/notifications.py's `send_notification` builds and checks it; services/notify/intake.py validates, renders
and delivers it. `data` travels as an object whose model is `DATA_MODELS[event_type]`: the producer builds that model
(so mypy checks its fields), notify validates the object against the same model.
Every notice is a security notification (API.md "Notifications the customer receives"): none can be switched off.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

Language = Literal["ja", "en"]
LockReason = Literal["password_failures", "code_failures", "staff", "fraud"]
ChangedAttribute = Literal["email", "phone", "address"]
RecipientRole = Literal["old", "new"]  # whether a copy of a change's notice goes to the old or the new contact
# What a one-time code is for: every operation a customer can be stepped up for, and a login.
CodeOperation = Literal[
    "login",
    "withdrawal",
    "charge",
    "bank_link",
    "profile_view",
    "profile_change",
    "password_change",
    "mfa_change",
    "kyc",
    "dispute",
    "device_remove",
    "password_reset",  # a forgotten password: not a step-up, the codes of a reset (services/auth/password_reset.py)
]


class EventType(StrEnum):
    LOGIN = "login"  # every login, where the policy says so (AUTH-LOGIN-2)
    LOGIN_NEW_DEVICE = "login_new_device"  # AUTH-LOGIN-2
    ACCOUNT_LOCKED = "account_locked"  # AUTH-LOGIN-3
    WITHDRAWAL_COMPLETED = "withdrawal_completed"  # AUTH-WD-2
    ATTRIBUTE_CHANGED = "attribute_changed"  # AUTH-ATTR-2, to the old and to the new contact
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name: a forgotten password replaced, every session ended
    MFA_CHANGED = "mfa_changed"
    BANK_ACCOUNT_LINKED = "bank_account_linked"  # LINK-2
    BANK_LINK_SUSPENDED = "bank_link_suspended"  # INC-9: a link made under weaker rules, suspended until linked again
    SUSPICIOUS_ACTIVITY = "suspicious_activity"  # RESP-1
    ONE_TIME_CODE = "one_time_code"  # AUTH-OTP-1/2: expires in 60 s
    KYC_POSTAL_CODE = "kyc_postal_code"  # KYC-1 postal: a letter by non-forwardable registered mail
    KYC_APPROVED = "kyc_approved"  # KYC-1: the identity is verified
    KYC_REJECTED = "kyc_rejected"  # KYC-1: the proofing failed, and why
    DISPUTE_OPENED = "dispute_opened"  # INC-6, INC-7: a report of transactions that were not the customer's
    DISPUTE_RESOLVED = "dispute_resolved"  # INC-7: relieved (how much) or rejected (why)
    DEVICE_REMOVED = "device_removed"  # issue 16: a device signed out and forgotten by the customer
    RECOVERY_CODE_USED = "recovery_code_used"  # a recovery code stood in for a lost factor (always told)
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"  # a new set replaced every earlier code
    # INC-3: staff tell the customers an incident touched, with the template they chose
    INCIDENT_CAUTION = "incident_caution"  # be careful: what to look out for, where to ask
    INCIDENT_PASSWORD_RESET = "incident_password_reset"  # noqa: S105 - an event name: please set a new password
    INCIDENT_APOLOGY = "incident_apology"  # we apologise: what happened, what we did
    DEVICE_INFECTED = "device_infected"  # SEC-3: the device may be infected; it is blocked, its sessions ended


class NotificationData(BaseModel):
    """The data of one event type: what its templates receive (DATA_MODELS says which model goes with which)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginData(NotificationData):
    at: AwareDatetime
    device: str = Field(max_length=200, description="e.g. 'iPhone / Safari'")
    ip: str = Field(max_length=64)
    place: str | None = Field(default=None, max_length=100, description="approximate, e.g. 'Osaka, JP'")


class AccountLockedData(NotificationData):
    at: AwareDatetime
    reason: LockReason
    until: AwareDatetime | None = Field(
        default=None, description="None: locked until identity is re-verified or staff unlock"
    )


class WithdrawalCompletedData(NotificationData):
    at: AwareDatetime
    amount: int = Field(gt=0, description="yen")
    atm: str = Field(max_length=100)
    withdrawal_id: str = Field(max_length=64)


class AttributeChangedData(NotificationData):
    at: AwareDatetime
    attribute: ChangedAttribute
    old: str = Field(max_length=300)
    new: str = Field(max_length=300)
    recipient_role: RecipientRole = Field(description="whether this copy goes to the old or the new contact")
    reverification_required: bool = Field(
        default=False, description="the change sent a verified identity back to re-verification (KYC-2)"
    )


class PasswordChangedData(NotificationData):
    at: AwareDatetime


class PasswordResetData(NotificationData):
    at: AwareDatetime
    sessions_ended: int = Field(ge=0, description="how many sessions (signed-in devices) the reset ended")


class MfaChangedData(NotificationData):
    at: AwareDatetime
    change: Literal["enrolled", "removed"]
    factor: Literal["totp", "sms", "email", "device_key", "passkey"]


class BankAccountLinkedData(NotificationData):
    at: AwareDatetime
    bank_name: str = Field(max_length=100)
    branch_code: str = Field(pattern=r"^[0-9]{3}$")
    account_number: str = Field(pattern=r"^[0-9]{4,8}$")
    service_name: str = Field(max_length=100, description="the wallet or service the account was linked to")


class BankLinkSuspendedData(NotificationData):
    """A link made under weaker rules than today's, suspended pending re-verification (INC-9): the customer links
    the account again in the app, under today's checks, to charge from it again."""

    at: AwareDatetime
    bank_name: str = Field(max_length=100)
    branch_code: str = Field(pattern=r"^[0-9]{3}$")
    account_number: str = Field(pattern=r"^[0-9]{4,8}$")
    service_name: str = Field(max_length=100, description="the wallet or service the account was linked to")


class SuspiciousActivityData(NotificationData):
    at: AwareDatetime
    summary: str = Field(max_length=300, description="what was seen, in words the customer understands")


class OneTimeCodeData(NotificationData):
    code: str = Field(pattern=r"^[0-9]{6}$")
    expires_in: int = Field(gt=0, le=300, description="seconds")
    operation: CodeOperation
    amount: int | None = Field(default=None, gt=0, description="yen, for money movement: the SMS says what is approved")


class KycPostalCodeData(NotificationData):
    code: str = Field(pattern=r"^[0-9A-Z]{8}$")
    name: str = Field(max_length=100)
    postal_code: str = Field(pattern=r"^[0-9]{3}-?[0-9]{4}$")
    address: str = Field(max_length=300)
    expires_at: AwareDatetime


class KycApprovedData(NotificationData):
    at: AwareDatetime
    method: Literal["ekyc", "postal", "jpki"]


class KycRejectedData(NotificationData):
    at: AwareDatetime
    method: Literal["ekyc", "postal", "jpki"]
    reason: str = Field(max_length=300, description="why, in words the customer understands")


DisputeChannel = Literal["app", "desk"]


class DisputeOpenedData(NotificationData):
    at: AwareDatetime
    dispute_id: str = Field(max_length=64)
    transactions: int = Field(gt=0, le=100, description="how many transactions the report names")
    amount: int = Field(gt=0, description="yen, their total")
    channel: DisputeChannel = Field(description="in the app, or taken by staff (the consultation desk)")
    declared_not_liable: bool = Field(description="the customer declared they will not bear the debt (INC-7)")
    target_days: int = Field(gt=0, le=30, description="relief is decided within this many days of the declaration")


class DisputeResolvedData(NotificationData):
    at: AwareDatetime
    dispute_id: str = Field(max_length=64)
    outcome: Literal["relieved", "rejected"]
    amount: int = Field(ge=0, description="yen relieved; 0 when rejected")
    reason: str | None = Field(default=None, max_length=500, description="why, when rejected")
    credit_information_deletion: bool = Field(
        default=False, description="deletion of the credit information the fraud caused was requested"
    )


class DeviceRemovedData(NotificationData):
    at: AwareDatetime
    device: str = Field(
        max_length=200, description="the device as its app named itself, e.g. 'sekisho-app/1.0 (iPhone)'"
    )
    last_seen_at: AwareDatetime
    sessions_ended: int = Field(ge=0, description="how many signed-in sessions of the device were ended")


class DeviceInfectedData(NotificationData):
    """SEC-3: a device of the customer's is believed infected (staff found it, or the app itself reported it): its
    sessions were ended and it can no longer sign in. The notice says what to do."""

    at: AwareDatetime
    device: str = Field(max_length=200, description="the device as its app named itself, or 'unknown'")
    source: Literal["staff", "app"] = Field(description="found by the company's monitoring, or reported by the app")
    sessions_ended: int = Field(ge=0, description="how many signed-in sessions of the device were ended")


class RecoveryCodeUsedData(NotificationData):
    at: AwareDatetime
    remaining: int = Field(ge=0, le=10, description="unused recovery codes left after this one")
    operation: CodeOperation = Field(description="what the code was used for: a login, or a step-up the policy allows")
    ip: str = Field(max_length=64)


class RecoveryCodesRegeneratedData(NotificationData):
    at: AwareDatetime
    count: int = Field(gt=0, le=10, description="codes in the new set")


class IncidentNoticeData(NotificationData):
    at: AwareDatetime
    reference: str = Field(max_length=40, description="the incident's id, for the customer to quote when asking")
    detected_at: AwareDatetime


DATA_MODELS: dict[EventType, type[NotificationData]] = {
    EventType.LOGIN: LoginData,
    EventType.LOGIN_NEW_DEVICE: LoginData,
    EventType.ACCOUNT_LOCKED: AccountLockedData,
    EventType.WITHDRAWAL_COMPLETED: WithdrawalCompletedData,
    EventType.ATTRIBUTE_CHANGED: AttributeChangedData,
    EventType.PASSWORD_CHANGED: PasswordChangedData,
    EventType.PASSWORD_RESET: PasswordResetData,
    EventType.MFA_CHANGED: MfaChangedData,
    EventType.BANK_ACCOUNT_LINKED: BankAccountLinkedData,
    EventType.BANK_LINK_SUSPENDED: BankLinkSuspendedData,
    EventType.SUSPICIOUS_ACTIVITY: SuspiciousActivityData,
    EventType.ONE_TIME_CODE: OneTimeCodeData,
    EventType.KYC_POSTAL_CODE: KycPostalCodeData,
    EventType.KYC_APPROVED: KycApprovedData,
    EventType.KYC_REJECTED: KycRejectedData,
    EventType.DISPUTE_OPENED: DisputeOpenedData,
    EventType.DISPUTE_RESOLVED: DisputeResolvedData,
    EventType.DEVICE_REMOVED: DeviceRemovedData,
    EventType.RECOVERY_CODE_USED: RecoveryCodeUsedData,
    EventType.RECOVERY_CODES_REGENERATED: RecoveryCodesRegeneratedData,
    EventType.INCIDENT_CAUTION: IncidentNoticeData,
    EventType.INCIDENT_PASSWORD_RESET: IncidentNoticeData,
    EventType.INCIDENT_APOLOGY: IncidentNoticeData,
    EventType.DEVICE_INFECTED: DeviceInfectedData,
}


class Recipient(BaseModel):
    """The customer's registered contacts at the time of the event (for a change: the old or the new one)."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{7,14}$", description="E.164, e.g. +819012345678")


class NotificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    event_type: EventType
    customer_id: str | None = Field(default=None, max_length=40)
    language: Language = "ja"
    to: Recipient = Field(default_factory=Recipient)
    channel: Literal["sms", "email"] | None = Field(default=None, description="one_time_code only: where the code goes")
    data: dict[str, Any] = Field(description="the object of DATA_MODELS[event_type] (validate_data)")


def validate_data(event_type: EventType, data: dict[str, Any]) -> NotificationData:
    """The data of a notice as its event's model; pydantic's ValidationError when it does not fit."""
    return DATA_MODELS[event_type].model_validate(data)
