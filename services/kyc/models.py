"""Tables of the kyc service's own schema: verification cases, their transitions and images, postal codes, the
verified identities, and the KYC status still to be told to auth."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

verification_case = Table(
    "verification_case",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("method", String(8), nullable=False),  # ekyc | postal | jpki
    Column("status", String(16), nullable=False),  # cases.Status
    Column("document_type", String(24), nullable=True),  # eKYC only
    # The customer's id while the case is open, NULL once decided: unique, so that two requests at once can never
    # open two cases for one customer (NULLs do not collide, on PostgreSQL and SQLite alike).
    Column("open_customer_id", String(40), nullable=True, unique=True),
    # What the customer declared at account opening, as auth said when the case was opened (sealed JSON of
    # shared.contracts.identity.DeclaredIdentity): what the documents or the letter were checked against.
    Column("declared", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("decided_by", String(40), nullable=True),  # "system", "customer" or a staff id
    Column("decision_reason", String(300), nullable=True),
    Index("ix_verification_case_status_id", "status", "id"),
)

# Append-only: every change of a case's status, with who and why.
verification_transition = Table(
    "verification_transition",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("verification_id", String(40), ForeignKey("verification_case.id"), nullable=False, index=True),
    Column("from_status", String(16), nullable=True),  # NULL: the case was opened
    Column("to_status", String(16), nullable=False),
    Column("actor", String(40), nullable=False),  # system | customer | a staff id
    Column("reason", String(300), nullable=True),
    Column("at", UtcDateTime, nullable=False),
)

verification_image = Table(
    "verification_image",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("verification_id", String(40), ForeignKey("verification_case.id"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),  # front | back | thickness | selfie
    Column("content_type", String(24), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),  # sealed base64 of the image (DATA-2)
    Column("created_at", UtcDateTime, nullable=False),
)

postal_code = Table(
    "postal_code",
    metadata,
    Column("verification_id", String(40), ForeignKey("verification_case.id"), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)

# The challenge of a JPKI case (KYC-1): 32 random bytes the card must sign, valid a few minutes and used once (each
# try consumes it; a refusal with tries left replaces it), and what the certificate proved, kept for staff and for
# the verified identity when the case waits in manual review.
jpki_challenge = Table(
    "jpki_challenge",
    metadata,
    Column("verification_id", String(40), ForeignKey("verification_case.id"), primary_key=True),
    Column("challenge", String(64), nullable=False),  # base64
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),  # tries that counted against the customer
    Column("certificate_identity", Text, nullable=True),  # sealed JSON of a DeclaredIdentity, from the certificate
)

# The record txn checks bank links against (KYC-4): one per approved case, personal data sealed.
verified_identity = Table(
    "verified_identity",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("verification_id", String(40), ForeignKey("verification_case.id"), nullable=False, unique=True),
    Column("method", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("name_kana", Text, nullable=False),
    Column("birth_date", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("verified_at", UtcDateTime, nullable=False),
)

# KYC status updates for auth (PUT /internal/customers/{id}/kyc), written in the transaction of the decision and
# relayed until auth accepts them (status_sync.py): a verified identity that auth never heard of would keep a
# customer from their money, and a lost one cannot be told apart from a slow one.
kyc_status_sync = Table(
    "kyc_status_sync",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("verification_id", String(40), ForeignKey("verification_case.id"), nullable=False, unique=True),
    Column("status", String(24), nullable=False),
    Column("method", String(8), nullable=False),
    Column("verified_at", UtcDateTime, nullable=True),
    Column("reason", String(300), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("synced_at", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_kyc_status_sync_due", "synced_at", "next_attempt_at"),
)
