"""Tables of the gateway service's own schema."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

# Kill switches (INC-1, LINK-4): the state now, one row per (operation, partner; '' = every partner), read by every
# replica each second; and every change ever made, append-only, for the audit of who stopped what and why.
kill_switch = Table(
    "kill_switch",
    metadata,
    Column("operation", String(64), primary_key=True),
    Column("partner_id", String(64), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("set_by", String(40), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

kill_switch_change = Table(
    "kill_switch_change",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("set_by", String(40), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    Index("ix_kill_switch_change_operation_set_at", "operation", "set_at"),
)

# IP rules (SEC-4): never deleted; a removed rule keeps who removed it and when.
ip_rule = Table(
    "ip_rule",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("route_class", String(16), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("cidr", String(64), nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime, nullable=True),
    Column("removed_by", String(40), nullable=True),
    CheckConstraint("route_class IN ('customer', 'partner', 'ops')", name="route_class"),
    CheckConstraint("kind IN ('allow', 'deny')", name="kind"),
)

# Rate-limit counters shared by the replicas when Redis is not configured (SEC-3): one row per key and window.
rate_counter = Table(
    "rate_counter",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

# Partner ATM networks (API.md): each signs its requests with an HMAC key (RFC 9421). A rotation gives the old
# keys an expiry so that both work during the overlap; the secret is sealed at rest (DATA-2).
partner = Table(
    "partner",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("allowed_cidrs", Text, nullable=True),  # JSON list of CIDRs; NULL: any address (SEC-4)
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
)

partner_key = Table(
    "partner_key",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("partner_id", String(40), ForeignKey("partner.id"), nullable=False, index=True),
    Column("secret", Text, nullable=False),  # sealed, context "partner_key.secret"
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)

# A signature's nonce is accepted once, across replicas: the primary key decides, rows older than twice the
# `created` window are purged.
signature_nonce = Table(
    "signature_nonce",
    metadata,
    Column("partner_id", String(40), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False, index=True),
)
