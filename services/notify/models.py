"""Tables of the notify service's own schema. Nothing here is ever deleted.

Recipients and rendered texts are sealed (DATA-2); a masked copy of the recipient is kept in clear
for staff views (DATA-1).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)  # audit entries of staff reads, for auth (shared/audit.py)

notification = Table(
    "notification",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("request_digest", String(64), nullable=False),  # the same key with another request is a conflict
    Column("event_type", String(40), nullable=False),
    Column("language", String(2), nullable=False),
    Column("customer_id", String(40), nullable=True, index=True),
    Column("producer", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

delivery = Table(
    "delivery",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("notification_id", String(40), ForeignKey("notification.id"), nullable=False, index=True),
    Column("channel", String(8), nullable=False),  # email | sms | post
    Column("recipient", Text, nullable=False),  # sealed
    Column("recipient_masked", String(200), nullable=False),
    Column("subject", Text, nullable=False),  # sealed
    Column("body", Text, nullable=False),  # sealed
    Column("status", String(8), nullable=False),  # queued | sent | failed | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_delivery_due", "status", "next_attempt_at"),
)

delivery_attempt = Table(
    "delivery_attempt",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("delivery.id"), nullable=False, index=True),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("outcome", String(8), nullable=False),  # sent | failed | dead
    Column("error", String(500), nullable=True),
)

preference = Table(
    "preference",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("sms", Boolean, nullable=False),  # add SMS to email; nothing can be switched off
    Column("updated_at", UtcDateTime, nullable=False),
)

letter = Table(
    "letter",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("delivery_id", String(40), ForeignKey("delivery.id"), nullable=False, unique=True),
    Column("address", Text, nullable=False),  # sealed: name, postal code and address as printed
    Column("body", Text, nullable=False),  # sealed
    Column("created_at", UtcDateTime, nullable=False),
    Column("printed_at", UtcDateTime, nullable=True),
)

mailbox_message = Table(
    "mailbox_message",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("delivery.id"), nullable=False, index=True),
    Column("channel", String(8), nullable=False),
    Column("recipient", Text, nullable=False),  # sealed
    Column("subject", Text, nullable=False),  # sealed
    Column("body", Text, nullable=False),  # sealed
    Column("created_at", UtcDateTime, nullable=False),
)
