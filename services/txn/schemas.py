"""Request and response models of txn's public routes (API.md "Customer API", "Ops API"): the service's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


# -- disputes and victim relief (INC-6, INC-7) ------------------------------------------------------------------------

TransactionId = Annotated[str, Field(pattern=r"^[a-z]{2,8}_[0-9a-z]{26}$", description="from GET /v1/me/transactions")]


class DisputeRequest(BaseModel):
    """`POST /v1/me/disputes`: transactions that were not the customer's, in their words."""

    model_config = ConfigDict(extra="forbid")

    transaction_ids: list[TransactionId] = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1, max_length=2000, description="what happened, in the customer's words")
    declares_not_liable: bool = Field(
        default=False, description="the customer declares they will not bear the debt these transactions left (INC-7)"
    )

    @field_validator("transaction_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("a transaction is named twice")
        return ids


class StaffDisputeRequest(DisputeRequest):
    """`POST /v1/ops/disputes`: a dispute staff open for a victim who called or came in (the emergency contact
    route, INC-6 (a)); `note` records how they reached the desk and how they were identified."""

    customer_id: str = Field(pattern=r"^[a-z]{2,8}_[0-9a-z]{26}$")
    note: str = Field(min_length=1, max_length=300)


class DeclarationRequest(BaseModel):
    """`POST /v1/ops/disputes/{id}/declaration`: how the victim declared they will not bear the debt."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=300)


class ReliefRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


class RejectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="told to the customer: why they are not relieved")


class DisputedTransactionView(BaseModel):
    transaction_id: str
    kind: str
    amount: Yen
    at: datetime
    relieved_amount: Yen | None = Field(description="what relief moved for it; null until relieved")
    relief_transaction_id: str | None = Field(description="the relief, as GET /v1/me/transactions lists it")


class ReliefRuleView(BaseModel):
    kind: str
    relief: str
    victim_bears: str
    explanation_ja: str
    explanation_en: str


class ReliefPolicyView(BaseModel):
    """The relief policy, as the customer is shown it (the guideline: explain when and why they are relieved)."""

    version: int
    target_days: int
    rules: list[ReliefRuleView]
    exception_ja: str
    exception_en: str


class DisputeStep(BaseModel):
    status: str
    at: datetime


class DisputeView(BaseModel):
    """`GET /v1/me/disputes/{id}`: the customer's own dispute."""

    dispute_id: str
    status: Literal["open", "under_review", "relieved", "rejected"]
    channel: Literal["app", "desk"]
    description: str
    declared_not_liable: bool
    declared_at: datetime | None
    relief_due_at: datetime | None = Field(description="relief is decided by then (INC-7: the policy's target)")
    amount: Yen
    relieved_amount: Yen | None
    decision_reason: str | None = Field(description="why it was rejected")
    transactions: list[DisputedTransactionView]
    history: list[DisputeStep]
    relief_policy: ReliefPolicyView
    created_at: datetime
    decided_at: datetime | None


class DisputeSummary(BaseModel):
    dispute_id: str
    customer_id: str
    status: str
    channel: str
    amount: Yen
    declared_at: datetime | None
    relief_due_at: datetime | None
    overdue: bool = Field(description="declared, undecided, and past the policy's target (INC-7)")
    created_at: datetime


class DisputeList(BaseModel):
    disputes: list[DisputeSummary]
    next: str | None = Field(description="pass as `after` for the next page; null: no more")


class StaffDisputeStep(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    at: datetime


class StaffDisputeView(BaseModel):
    """`GET /v1/ops/disputes/{id}`: what staff need to decide, with every transition's who and why."""

    dispute_id: str
    customer_id: str
    status: str
    channel: str
    opened_by: str
    description: str
    declared_at: datetime | None
    declared_by: str | None
    relief_due_at: datetime | None
    overdue: bool
    amount: Yen
    relieved_amount: Yen | None
    policy_version: int | None
    decided_by: str | None
    decision_reason: str | None
    decided_at: datetime | None
    transactions: list[DisputedTransactionView]
    transitions: list[StaffDisputeStep]
    credit_information_deletion_requested: list[str] = Field(description="records flagged for deletion by it")
    created_at: datetime


class CreditInformationRecordView(BaseModel):
    record_id: str
    kind: Literal["debt", "delinquency"]
    transaction_id: str | None
    amount: Yen
    status: Literal["reported", "deletion_requested", "deleted"] = Field(
        description="deletion_requested: flagged by relief, the bureau has not acknowledged the deletion yet"
    )
    recorded_at: datetime
    reported_at: datetime | None = Field(description="when the bureau acknowledged the report; null: not yet")
    deletion_dispute_id: str | None
    deletion_requested_by: str | None
    deletion_requested_at: datetime | None
    deleted_at: datetime | None = Field(description="when the bureau acknowledged the deletion")


class CreditInformationView(BaseModel):
    customer_id: str
    records: list[CreditInformationRecordView]


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


class PublicationRequest(BaseModel):
    """`POST /v1/ops/publications`: a notice about a fraud case for the public (INC-6 (e) 公表). No customer data:
    a title or body naming a customer id, an e-mail address or a phone number is refused (422)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    language: Literal["ja", "en"] = "ja"
    dispute_ids: list[str] = Field(default_factory=list, max_length=100, description="the cases it is about")


class PublicationView(BaseModel):
    """What staff see of a published notice."""

    publication_id: str
    title: str
    body: str
    language: str
    dispute_ids: list[str]
    published_by: str
    published_at: datetime


class NoticeView(BaseModel):
    """A published notice as the public sees it: no staff or case identifiers."""

    notice_id: str
    title: str
    body: str
    language: str
    published_at: datetime


class NoticeList(BaseModel):
    notices: list[NoticeView]
    next: str | None = Field(description="pass as `before` for older notices")
