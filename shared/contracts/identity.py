"""kyc ↔ auth: the identity a customer declared at account opening, and the outcome of identity proofing.

- `GET /internal/customers/{customer_id}/declared-identity` (auth; only kyc calls it) → `DeclaredIdentity`: what
  proofing checks the documents, the postal address or the JPKI certificate against. 404 `customer_not_found`.
- `PUT /internal/customers/{customer_id}/kyc` (auth; only kyc calls it) with `KycStatusUpdate` → `KycStatus`:
  auth keeps the customer's KYC status, which the gateway reads with its session check (KYC-2) and the account
  opening answers as `kyc_status`. `verified` also lifts a hard lock (re-verification, JFSA 2(2) ③).
- `GET /internal/customers/{customer_id}/kyc` (auth; only kyc calls it) → `KycStatus` as it stands: kyc refuses a
  new case of a verified customer (KYC-3) unless re-verification is required.
- `GET /internal/customers/{customer_id}/contacts` (auth; only kyc calls it) → `CustomerContacts`: where kyc tells
  the customer the result of a proofing (notify needs a recipient; auth alone keeps contacts). 404 as above.

txn ↔ kyc:
- `POST /internal/identity-matches` (kyc; only txn calls it) with `IdentityMatchRequest` → `IdentityMatch`: whether
  a bank account's holder is the customer's verified identity (KYC-4), without disclosing that identity.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# unverified: never proven; verified: proven by one of KYC-1's methods; reverification_required: proven once, but
# the name or address changed since (the operations that need KYC wait for a new proof).
KycState = Literal["unverified", "verified", "reverification_required"]
KycMethod = Literal["ekyc", "postal", "jpki"]


class DeclaredIdentity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    name: str
    name_kana: str
    birth_date: date
    address: str


class KycStatusUpdate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: KycState
    verification_id: str
    method: KycMethod
    verified_at: datetime | None = None  # with status "verified"
    reason: str | None = None  # why, for the audit trail and the fraud event


class KycStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    status: KycState
    verified_at: datetime | None = None
    hard_lock_lifted: bool = False


class CustomerContacts(BaseModel):
    """`GET /internal/customers/{customer_id}/contacts` (auth; only kyc calls it): where kyc's notices of a
    proofing result go (the registered contacts, read when the result is decided)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    email: str | None = None
    phone: str | None = None  # E.164
    language: Literal["ja", "en"] = "ja"


# txn → kyc: `POST /internal/identity-matches` (kyc; only txn calls it). Before a bank account is linked, txn asks
# whether the account holder the bank reports is the customer kyc verified (KYC-4). The answer carries no personal
# data beyond what txn sent: txn learns "same person or not", never the verified name or birth date.
MatchedAttribute = Literal["name_kana", "birth_date"]


class IdentityMatchRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=40)
    holder_kana: str = Field(min_length=1, max_length=200)  # as the bank writes it (Zengin half-width kana or not)
    holder_birth_date: date | None = None  # only where the bank supplies it


class IdentityMatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    matched: bool  # verified, and nothing the bank supplied differs
    verified: bool  # the customer has an approved proofing at all
    mismatches: list[MatchedAttribute]
    verification_id: str | None = None  # the approval compared against
    method: KycMethod | None = None
