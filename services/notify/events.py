"""The notifications sekisho sends: each event type, the data its templates receive, and its channels.

Every one is a security notification (API.md "Notifications the customer receives"): none can be
switched off. A customer may only add SMS to email.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventType(StrEnum):
    LOGIN = "login"  # every login, where the policy says so (AUTH-LOGIN-2)
    LOGIN_NEW_DEVICE = "login_new_device"  # AUTH-LOGIN-2
    ACCOUNT_LOCKED = "account_locked"  # AUTH-LOGIN-3
    WITHDRAWAL_COMPLETED = "withdrawal_completed"  # AUTH-WD-2
    ATTRIBUTE_CHANGED = "attribute_changed"  # AUTH-ATTR-2, to the old and to the new contact
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    MFA_CHANGED = "mfa_changed"
    BANK_ACCOUNT_LINKED = "bank_account_linked"  # LINK-2
    SUSPICIOUS_ACTIVITY = "suspicious_activity"  # RESP-1
    ONE_TIME_CODE = "one_time_code"  # AUTH-OTP-1/2: expires in 60 s
    KYC_POSTAL_CODE = "kyc_postal_code"  # KYC-1 postal: a letter by non-forwardable registered mail
    KYC_APPROVED = "kyc_approved"  # KYC-1: the identity is verified
    KYC_REJECTED = "kyc_rejected"  # KYC-1: the proofing failed, and why


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    POST = "post"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginData(_Data):
    at: AwareDatetime
    device: str = Field(max_length=200, description="e.g. 'iPhone / Safari'")
    ip: str = Field(max_length=64)
    place: str | None = Field(default=None, max_length=100, description="approximate, e.g. 'Osaka, JP'")


class AccountLockedData(_Data):
    at: AwareDatetime
    reason: Literal["password_failures", "code_failures", "staff", "fraud"]
    until: AwareDatetime | None = Field(
        default=None, description="None: locked until identity is re-verified or staff unlock"
    )


class WithdrawalCompletedData(_Data):
    at: AwareDatetime
    amount: int = Field(gt=0, description="yen")
    atm: str = Field(max_length=100)
    withdrawal_id: str = Field(max_length=64)


class AttributeChangedData(_Data):
    at: AwareDatetime
    attribute: Literal["email", "phone", "address"]
    old: str = Field(max_length=300)
    new: str = Field(max_length=300)
    recipient_role: Literal["old", "new"] = Field(description="whether this copy goes to the old or the new contact")
    reverification_required: bool = Field(
        default=False, description="the change sent a verified identity back to re-verification (KYC-2)"
    )


class PasswordChangedData(_Data):
    at: AwareDatetime


class MfaChangedData(_Data):
    at: AwareDatetime
    change: Literal["enrolled", "removed"]
    factor: Literal["totp", "sms", "email", "device_key"]


class BankAccountLinkedData(_Data):
    at: AwareDatetime
    bank_name: str = Field(max_length=100)
    branch_code: str = Field(pattern=r"^[0-9]{3}$")
    account_number: str = Field(pattern=r"^[0-9]{4,8}$")
    service_name: str = Field(max_length=100, description="the wallet or service the account was linked to")


class SuspiciousActivityData(_Data):
    at: AwareDatetime
    summary: str = Field(max_length=300, description="what was seen, in words the customer understands")


class OneTimeCodeData(_Data):
    code: str = Field(pattern=r"^[0-9]{6}$")
    expires_in: int = Field(gt=0, le=300, description="seconds")
    operation: Literal[
        "login",
        "withdrawal",
        "charge",
        "bank_link",
        "profile_view",
        "profile_change",
        "password_change",
        "mfa_change",
        "kyc",
    ]
    amount: int | None = Field(default=None, gt=0, description="yen, for money movement: the SMS says what is approved")


class KycPostalCodeData(_Data):
    code: str = Field(pattern=r"^[0-9A-Z]{8}$")
    name: str = Field(max_length=100)
    postal_code: str = Field(pattern=r"^[0-9]{3}-?[0-9]{4}$")
    address: str = Field(max_length=300)
    expires_at: AwareDatetime


class KycApprovedData(_Data):
    at: AwareDatetime
    method: Literal["ekyc", "postal", "jpki"]


class KycRejectedData(_Data):
    at: AwareDatetime
    method: Literal["ekyc", "postal", "jpki"]
    reason: str = Field(max_length=300, description="why, in words the customer understands")


DATA_MODELS: dict[EventType, type[_Data]] = {
    EventType.LOGIN: LoginData,
    EventType.LOGIN_NEW_DEVICE: LoginData,
    EventType.ACCOUNT_LOCKED: AccountLockedData,
    EventType.WITHDRAWAL_COMPLETED: WithdrawalCompletedData,
    EventType.ATTRIBUTE_CHANGED: AttributeChangedData,
    EventType.PASSWORD_CHANGED: PasswordChangedData,
    EventType.MFA_CHANGED: MfaChangedData,
    EventType.BANK_ACCOUNT_LINKED: BankAccountLinkedData,
    EventType.SUSPICIOUS_ACTIVITY: SuspiciousActivityData,
    EventType.ONE_TIME_CODE: OneTimeCodeData,
    EventType.KYC_POSTAL_CODE: KycPostalCodeData,
    EventType.KYC_APPROVED: KycApprovedData,
    EventType.KYC_REJECTED: KycRejectedData,
}

# Where the code-bearing events go is fixed by their nature; every other notice goes by email, plus SMS
# where the policy (settings) or the customer's own preference says so.
FIXED_CHANNELS: dict[EventType, tuple[Channel, ...]] = {
    EventType.KYC_POSTAL_CODE: (Channel.POST,),
}
