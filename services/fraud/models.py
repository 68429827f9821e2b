"""Tables of the fraud service's own schema."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

# Every event of every service, append-only (MON-2): never updated, never deleted.
event = Table(
    "event",
    metadata,
    Column("id", String(40), primary_key=True),  # the producer's event id: a redelivery is the same row
    Column("type", String(40), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("producer", String(16), nullable=False),
    Column("customer_id", String(40), nullable=True),
    Column("device_id", String(40), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("outcome", String(40), nullable=False),
    Column("data", Text, nullable=False),  # JSON
    Index("ix_event_customer_time", "customer_id", "occurred_at"),
    Index("ix_event_ip_time", "ip", "occurred_at"),
    Index("ix_event_type_time", "type", "occurred_at"),
)
