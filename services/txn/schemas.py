"""Request and response models of txn's public routes (API.md "Customer API", "Ops API"): the service's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.txn.banks import ACCOUNT_NUMBER, BANK_CODE, BRANCH_CODE

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


class BankLinkRequest(BaseModel):
    """`POST /v1/bank-links`: the account (Zengin codes) and its holder's name in kana as the customer knows it."""

    model_config = ConfigDict(extra="forbid")

    bank_code: str = Field(pattern=BANK_CODE, description="4 digits (全銀協 bank code)")
    branch_code: str = Field(pattern=BRANCH_CODE, description="3 digits")
    account_number: str = Field(pattern=ACCOUNT_NUMBER, description="7 digits")
    holder_kana: str = Field(min_length=1, max_length=100, description="e.g. サトウ ハナコ (full- or half-width)")


class BankLinkView(BaseModel):
    link_id: str
    status: str = Field(description="active | suspended_pending_reverification | replaced")
    bank_code: str
    bank_name: str
    branch_code: str
    account_last4: str
    rules_version: int
    created_at: datetime
    cool_off_until: datetime = Field(description="until then the link brings in only a small amount in all")


class ChargeRequest(BaseModel):
    """`POST /v1/charges`; send an `Idempotency-Key` header to retry safely."""

    model_config = ConfigDict(extra="forbid")

    link_id: str = Field(min_length=1, max_length=40)
    amount: Yen = Field(gt=0, le=10_000_000)


class ChargeView(BaseModel):
    charge_id: str
    link_id: str
    amount: Yen
    status: Literal["completed"]
    charged_at: datetime


class BankSuspensionRequest(BaseModel):
    """`PUT /v1/ops/banks/{bank_code}/suspension` (LINK-4)."""

    model_config = ConfigDict(extra="forbid")

    suspended: bool
    reason: str | None = Field(default=None, max_length=300)


class BankSuspensionView(BaseModel):
    bank_code: str
    suspended: bool
    reason: str | None
    updated_at: datetime
    updated_by: str


class BankSuspensionList(BaseModel):
    suspensions: list[BankSuspensionView]
