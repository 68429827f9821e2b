"""Request and response models of txn's public routes (API.md "Customer API", "Ops API"): the service's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
