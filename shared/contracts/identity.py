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
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

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
