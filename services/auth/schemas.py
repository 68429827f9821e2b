"""The auth service's contract: account opening, login, challenges, tokens (API.md "Customer API")."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from shared.timestamps import Timestamp

_KATAKANA = re.compile(r"^[\u30a0-\u30ff\u3000 ]+$")
_JP_MOBILE = re.compile(r"^0[5789]0[0-9]{8}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalize_phone(value: str) -> str:
    """+819012345678 stays; 090-1234-5678 (a Japanese number) becomes +819012345678."""
    compact = re.sub(r"[\s\-()]", "", value)
    if _E164.match(compact):
        return compact
    if _JP_MOBILE.match(compact) or re.match(r"^0[1-9][0-9]{8,9}$", compact):
        return "+81" + compact[1:]
    raise ValueError("a phone number in E.164 form (+81…) or a Japanese number (090-1234-5678)")


class AccountApplication(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr
    phone: str
    name: str = Field(min_length=1, max_length=100)
    name_kana: str = Field(min_length=1, max_length=100)
    birth_date: date
    address: str = Field(min_length=5, max_length=300)
    password: str = Field(min_length=1, max_length=1024)
    language: Literal["ja", "en"] = "ja"

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(value)

    @field_validator("name_kana")
    @classmethod
    def _kana(cls, value: str) -> str:
        if not _KATAKANA.match(value):
            raise ValueError("the name in katakana (全角カタカナ)")
        return value

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class AccountOpened(BaseModel):
    customer_id: str
    kyc_status: str


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login_id: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    device_id: str = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    # SEC-3: what the app's own integrity check (root/jailbreak, known malware, a tampered app) found on this device.
    # "compromised": the login is refused (403 device_blocked) once the password is right, the customer warned and
    # the device blocked for good (services/auth/device_blocks.py). Absent: not checked, as before.
    device_integrity: Literal["ok", "compromised"] | None = None


class ChallengeView(BaseModel):
    id: str
    methods: list[str]
    caution: str
    expires_in: int
    operation: str
    summary: dict[str, Any]


class Tokens(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str | None = Field(description="none for staff: their sessions end with the token")
    session_id: str
    acr: str


class StepUpGranted(BaseModel):
    """A step-up challenge answered: the grant to repeat the request with (header Step-Up-Grant), single use."""

    grant: str
    expires_in: int


class SendCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["sms", "email"]


class VerifyRequest(BaseModel):
    """A one-time code (`totp`, `sms`, `email`), or a passkey's assertion (`passkey`, `credential`: the
    PublicKeyCredential of navigator.credentials.get() as JSON, for the options the challenge gave)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["totp", "sms", "email", "recovery_code", "passkey"]
    code: str | None = Field(default=None, min_length=1, max_length=16)
    credential: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _answer_fits_method(self) -> VerifyRequest:
        if self.method == "passkey" and (self.credential is None or self.code is not None):
            raise ValueError("a passkey answer is a credential, without a code")
        if self.method != "passkey" and (self.code is None or self.credential is not None):
            raise ValueError("a one-time code answer is a code, without a credential")
        return self


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=20, max_length=200)


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr | None = None
    phone: str | None = None
    address: str | None = Field(default=None, min_length=5, max_length=300)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()


class ContactCode(BaseModel):
    """The code sent to the new e-mail address or phone number (POST /v1/me/contacts/{change_id}/verify)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6}$")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=16)


class StaffLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login_id: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


_DEVICE_ID = Field(min_length=8, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")


class PasskeyRegistration(BaseModel):
    """The browser's answer to the registration options: navigator.credentials.create()'s PublicKeyCredential as
    JSON (id, rawId, type, response.clientDataJSON, response.attestationObject, response.transports)."""

    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]
    name: str | None = Field(default=None, max_length=64)


class PasskeyRename(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)


class PasskeyLoginOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login_id: str | None = Field(default=None, min_length=1, max_length=254)


class PasskeyLogin(BaseModel):
    """navigator.credentials.get()'s PublicKeyCredential as JSON, for the options of `authentication_id`."""

    model_config = ConfigDict(extra="forbid")

    authentication_id: str = Field(min_length=1, max_length=40)
    credential: dict[str, Any]
    device_id: str = _DEVICE_ID


class PasswordResetRequest(BaseModel):
    """A forgotten password (POST /v1/auth/password-reset): the e-mail address or the registered phone number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    login_id: str = Field(min_length=1, max_length=254)
    # The language of the answer's caution: the caller's, never the account's (that would tell an account exists).
    language: Literal["ja", "en"] = "ja"


class PasswordResetStarted(BaseModel):
    reset_id: str
    methods: list[str] = Field(description="where the codes went: always e-mail and SMS, whether the id exists or not")
    possession_methods: list[str] = Field(description="what may prove the possession factor: the SMS code, or TOTP")
    expires_in: int
    caution: str


class PasswordResetSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["email", "sms"]


class PasswordResetVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["email", "sms", "totp"]
    code: str = Field(min_length=1, max_length=16)


class PasswordResetComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: str = Field(min_length=1, max_length=1024)


class CustomerSearch(BaseModel):
    """`POST /v1/ops/customers/search`: one e-mail address or one phone number, in the body so that it never sits in
    a URL or an access log."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)

    @model_validator(mode="after")
    def _one_of(self) -> CustomerSearch:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self


# ---- Answers of the customer's own routes (typed for the public OpenAPI; the fields are what the handlers send).


class CodeSent(BaseModel):
    """A one-time code sent (`POST /v1/auth/challenges/{id}/send`), with the caution to show beside its field."""

    sent: Literal["sms", "email"]
    expires_in: int
    caution: str


class ResetCodeSent(BaseModel):
    sent: Literal["email", "sms"]
    expires_in: int


class ResetVerified(BaseModel):
    verified: list[str] = Field(description="the factors proven so far: email, and sms or totp")
    ready: bool = Field(description="both factors proven: `complete` may be called")


class ResetCompleted(BaseModel):
    reset: bool
    sessions_ended: int


class Profile(BaseModel):
    customer_id: str
    email: str
    phone: str
    name: str
    name_kana: str
    birth_date: str
    address: str
    language: str
    kyc_status: str


class PendingContactChange(BaseModel):
    """An e-mail or phone change waiting for the code sent to the new contact."""

    change_id: str
    attribute: Literal["email", "phone"]
    expires_in: int


class ProfileChanged(BaseModel):
    changed: list[str] = Field(description="the attributes changed at once (the address)")
    pending: PendingContactChange | None = Field(description="a contact change waiting for its code; else null")


class ContactChanged(BaseModel):
    changed: list[str]


class PasswordChanged(BaseModel):
    changed: bool
    other_sessions_ended: int


class DeviceView(BaseModel):
    id: str
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    last_ip: str
    user_agent: str
    trusted: bool


class DeviceRemoved(BaseModel):
    removed: str = Field(description="the id of the device removed")
    sessions_ended: int
    current_session_ended: bool


class TotpEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class TotpEnrolled(BaseModel):
    enrolled: Literal["totp"]
    recovery_codes: list[str] = Field(description="a new set, shown this once; every earlier code stops working")


class RecoveryCodesLeft(BaseModel):
    remaining: int


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="shown this once; every earlier code stops working")
    remaining: int


class PasskeyRegistrationOptions(BaseModel):
    registration_id: str
    options: dict[str, Any] = Field(description="PublicKeyCredentialCreationOptions as JSON, for credentials.create()")


class PasskeyAuthenticationOptions(BaseModel):
    authentication_id: str
    options: dict[str, Any] = Field(description="PublicKeyCredentialRequestOptions as JSON, for credentials.get()")


class PasskeyRegistered(BaseModel):
    passkey_id: str
    name: str
    kind: str = Field(description="hwk: bound to one device; swk: synced or backup-eligible")
    created_at: Timestamp


class PasskeyView(BaseModel):
    passkey_id: str
    name: str
    kind: str = Field(description="hwk: bound to one device; swk: synced or backup-eligible")
    backed_up: bool
    aaguid: str
    transports: list[str]
    created_at: Timestamp
    last_used_at: Timestamp | None


# ---- Answers of the staff routes (/v1/ops/…).


class StaffUnlocked(BaseModel):
    staff_id: str
    locked: bool


class StaffLoggedOut(BaseModel):
    ended: bool


class CustomerFound(BaseModel):
    """A customer a search found, masked (DATA-1)."""

    customer_id: str
    email: str
    phone: str
    kyc_status: str


class CustomersFound(BaseModel):
    customers: list[CustomerFound]


class CustomerView(BaseModel):
    """A customer as staff see them: masked, or the values themselves with `full=true` (supervisor, a reason)."""

    customer_id: str
    email: str
    phone: str
    address: str
    kyc_status: str
    locked: bool = Field(description="stopped on every device: a staff lock, or failures from the customer's devices")
    locked_until: str | None = Field(description="when a temporary lock ends; null for none or a hard lock")
    new_devices_locked: bool = Field(description="devices never used before are stopped (failures from strangers)")
    new_devices_locked_until: str | None
    password_reset_required: bool
    created_at: str


class CustomerLocked(BaseModel):
    locked: bool
    sessions_ended: int


class CustomerUnlocked(BaseModel):
    locked: bool


class SessionsRevoked(BaseModel):
    sessions_ended: int


class AuditEntryView(BaseModel):
    entry_id: str
    seq: int
    at: str
    service: str
    actor_id: str
    actor_role: str
    outsourced: bool
    session_id: str
    ip: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any] = Field(description="what was read or changed, never the personal data itself")


class AuditPage(BaseModel):
    entries: list[AuditEntryView]
    next_cursor: str | None = Field(description="the cursor of the next page; null at the end")
