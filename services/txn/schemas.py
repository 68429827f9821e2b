"""Request and response models of txn's public routes (API.md "Customer API", "Ops API"): the service's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Yen = int


class AccountView(BaseModel):
    """`GET /v1/me/account`: the credit line, what is drawn and held on it, and the wallet."""

    credit_limit: Yen
    outstanding: Yen = Field(description="drawn on the line and not yet repaid or relieved")
    held: Yen = Field(description="reserved for withdrawals authorized and not yet completed")
    available: Yen = Field(description="credit_limit - outstanding - held, never below 0")
    wallet_balance: Yen


class TransactionView(BaseModel):
    transaction_id: str
    kind: str = Field(description="withdrawal | charge | relief | repayment")
    status: Literal["pending", "completed"]
    amount: Yen
    memo: str | None = None
    at: datetime


class TransactionPage(BaseModel):
    transactions: list[TransactionView]
    next: str | None = Field(description="pass as `before` for the next (older) page; null: no more")


class CreditLineRequest(BaseModel):
    """`PUT /v1/ops/customers/{id}/credit-line`."""

    model_config = ConfigDict(extra="forbid")

    limit: Yen = Field(ge=0, le=100_000_000, description="yen; 0 stops new draws without touching what is owed")
    reason: str | None = Field(default=None, max_length=300)


class CreditLineView(BaseModel):
    customer_id: str
    limit: Yen
    previous_limit: Yen | None
    version: int
    outstanding: Yen
    held: Yen
    available: Yen


# -- smartphone-ATM withdrawals (API.md "Customer API" POST /v1/withdrawals, "Partner ATM network API") ------------

Amount = Annotated[int, Field(strict=True, gt=0, le=100_000_000, description="yen")]
# The partner's name for its authorize call; also what it reverses by when the call's answer never reached it.
RequestId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class WithdrawalRequest(BaseModel):
    """`POST /v1/withdrawals`: the QR the ATM shows, and the amount (both bound to the customer's step-up)."""

    model_config = ConfigDict(extra="forbid")

    qr: str = Field(min_length=1, max_length=200)
    amount: Amount


class WithdrawalCreated(BaseModel):
    withdrawal_id: str
    one_time_code: str = Field(description="6 digits, for the customer to enter at the ATM")
    expires_at: datetime


class AtmSessionRequest(BaseModel):
    """`POST /v1/atm/sessions`."""

    model_config = ConfigDict(extra="forbid")

    atm_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class AtmSessionView(BaseModel):
    session_id: str
    qr: str = Field(description="what the ATM shows as a QR code")
    expires_at: datetime


class AuthorizeRequest(BaseModel):
    """`POST /v1/atm/withdrawals/authorize`."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=40)
    one_time_code: str = Field(pattern=r"^[0-9]{6}$")
    amount: Amount
    request_id: RequestId


class AuthorizationDecision(BaseModel):
    decision: Literal["approved", "declined"]
    authorization_id: str | None = None
    reason_code: str | None = Field(default=None, description="why it was declined (stable)")


class SettlementView(BaseModel):
    """The answer of complete and reverse, the same every time they are repeated."""

    authorization_id: str | None = Field(description="null: a reversal by request_id of no authorization")
    request_id: str
    status: str = Field(description="completed | reversed | expired")
    amount: Yen | None = None
    settled_at: datetime | None = None
