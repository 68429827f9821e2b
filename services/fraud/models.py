"""Tables of the fraud service's own schema. Nothing here is deleted: what ended is marked, not removed."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

# Every event of every service, append-only (MON-2): never updated, never deleted. The columns after `data`
# are derived at intake (from the event and the IP) so that features are index range scans, not JSON parsing.
event = Table(
    "event",
    metadata,
    Column("id", String(40), primary_key=True),  # the producer's event id: a redelivery is the same row
    Column("type", String(40), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("producer", String(16), nullable=False),
    Column("customer_id", String(40), nullable=True),
    Column("device_id", String(40), nullable=True),  # the producer's device row (auth: one per customer and device)
    Column("ip", String(64), nullable=True),
    Column("outcome", String(40), nullable=False),
    Column("data", Text, nullable=False),  # JSON
    Column("device_key", String(200), nullable=True),  # the app's own device id: the same phone across customers
    Column("network", String(64), nullable=True),  # the IP's /24 (IPv4) or /56 (IPv6)
    Column("country", String(2), nullable=True),
    Column("asn", String(100), nullable=True),  # the network operator (autonomous system) name
    Column("amount", BigInteger, nullable=True),  # yen, for money events
    Column("bank_account", String(64), nullable=True),  # keyed digest of bank code, branch and number
    Column("device_digest", String(40), nullable=True),  # what staff see and search by (device_digests.py)
    # app | web | atm | ops | system | unknown (shared/channels.py); rows from before channels are `unknown`
    Column("channel", String(8), nullable=False, server_default="unknown"),
    Index("ix_event_customer_time", "customer_id", "occurred_at"),
    Index("ix_event_ip_time", "ip", "occurred_at"),
    Index("ix_event_type_time", "type", "occurred_at"),
    Index("ix_event_device_key_time", "device_key", "occurred_at"),
    Index("ix_event_network_time", "network", "occurred_at"),
    Index("ix_event_bank_account_time", "bank_account", "occurred_at"),
    Index("ix_event_device_digest_time", "device_digest", "occurred_at"),
    Index("ix_event_channel_time", "channel", "occurred_at"),
)

# Rule sets (rules.py): drafts are edited, one version is live, every version is kept.
rule_set = Table(
    "rule_set",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("status", String(8), nullable=False),  # draft | live | retired
    Column("body", Text, nullable=False),  # JSON: rules.RuleSetBody
    Column("note", String(500), nullable=False),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("activated_by", String(40), nullable=True),
    Column("activated_at", UtcDateTime, nullable=True),
    Column("retired_at", UtcDateTime, nullable=True),
)

# Every answer /score gave, with the rule-set version that gave it.
score = Table(
    "score",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("operation", String(32), nullable=False),
    Column("customer_id", String(40), nullable=True),
    Column("device_id", String(40), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("score", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # allow | step_up | review | deny
    Column("rule_set_version", Integer, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON: [{rule, weight, reason}]
    Column("context", Text, nullable=False),  # JSON: the request as received
    Index("ix_score_customer_at", "customer_id", "at"),
    Index("ix_score_at", "at"),
)

# A rule snoozed for one customer, device or IP (known false positives), with an expiry and a note.
suppression = Table(
    "suppression",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rule_id", String(40), nullable=False),
    Column("entity_type", String(12), nullable=False),  # customer | device | ip
    Column("entity_value", String(200), nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("lifted_at", UtcDateTime, nullable=True),
    Column("lifted_by", String(40), nullable=True),
    Index("ix_suppression_entity", "entity_type", "entity_value"),
)

# Cases for review (RESP-1/3): opened by a rule's action, resolved by staff with a label that backtests use.
case = Table(
    "fraud_case",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("status", String(12), nullable=False),  # open | in_review | escalated | resolved
    Column("score_id", String(40), nullable=True),
    Column("operation", String(32), nullable=False),
    Column("customer_id", String(40), nullable=True),
    Column("device_id", String(40), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("score", Integer, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON
    Column("actions", Text, nullable=False),  # JSON: what was done on detection
    Column("label", String(8), nullable=True),  # fraud | legit
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolved_by", String(40), nullable=True),
    Column("note", String(2000), nullable=True),
    Column("assignee", String(40), nullable=True),  # the staff member working it (cases.assign_case)
    Column("assigned_at", UtcDateTime, nullable=True),
    Column("assigned_by", String(40), nullable=True),
    Index("ix_fraud_case_status_opened", "status", "opened_at"),
    Index("ix_fraud_case_customer", "customer_id"),
    Index("ix_fraud_case_assignee", "assignee"),
)

# Staff comments on a case, append-only: never updated, never deleted.
case_comment = Table(
    "fraud_case_comment",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_fraud_case_comment_case", "case_id", "at"),
)

# Deny and allow lists (RESP-3, SEC-4): IPs as CIDR, devices (device keys), customers, bank accounts (digests).
list_entry = Table(
    "list_entry",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("list", String(16), nullable=False),  # ips | devices | customers | bank_accounts
    Column("kind", String(8), nullable=False),  # deny | allow
    Column("value", String(200), nullable=False),
    Column("note", String(500), nullable=False),
    Column("source", String(40), nullable=False),  # a staff id, or "rule:<id>" when a detection added it
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("removed_at", UtcDateTime, nullable=True),
    Column("removed_by", String(40), nullable=True),
    # Why, where it changes what follows: "malware" on a device deny entry blocks the device (SEC-3, device_blocks.py).
    Column("reason", String(16), nullable=True),
    Index("ix_list_entry_list_value", "list", "value"),
)

# Incidents (INC-1..3, INC-8): staff open one, record its timeline, contain and notify the customers it touched.
incident = Table(
    "incident",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("kind", String(24), nullable=False),  # unauthorized_access | account_takeover | data_leak | …
    Column("summary", Text, nullable=False),
    Column("status", String(12), nullable=False),  # open | contained | resolved | closed
    Column("detected_at", UtcDateTime, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=True),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_incident_status_created", "status", "created_at"),
    Index("ix_incident_created", "created_at"),
)

# The incident's timeline, append-only: a correction is a new entry naming the one it corrects (`corrects`).
incident_entry = Table(
    "incident_entry",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("incident_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, … per incident: the order it was recorded in
    Column("kind", String(12), nullable=False),  # fact | decision | notice | action | status
    Column("text", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),  # when it happened (staff may say; else when it was recorded)
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(40), nullable=False),
    Column("corrects", String(40), nullable=True),
    Column("data", Text, nullable=False),  # JSON: counts, the status change …
    Index("ux_incident_entry_seq", "incident_id", "seq", unique=True),
)

# The customers an incident touched, and whether auth has locked them (containment.py).
incident_customer = Table(
    "incident_customer",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("customer_id", String(40), primary_key=True),
    Column("source", String(12), nullable=False),  # list | ip | device: how the containment found them
    Column("added_at", UtcDateTime, nullable=False),
    Column("added_by", String(40), nullable=False),
    Column("status", String(12), nullable=False),  # pending | contained | failed
    Column("failure", String(300), nullable=True),
    Column("contained_at", UtcDateTime, nullable=True),  # auth confirmed what was asked (the first time)
    Column("locked_at", UtcDateTime, nullable=True),  # auth confirmed the lock
)

# Notices sent to affected customers: one per customer per incident and template (incident_notices.py).
incident_notice = Table(
    "incident_notice",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("template", String(40), primary_key=True),
    Column("customer_id", String(40), primary_key=True),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("sent_by", String(40), nullable=False),
)

# Recurrence prevention (INC-8): every version kept, the newest is in force.
incident_recurrence = Table(
    "incident_recurrence",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("root_cause", Text, nullable=False),
    Column("risk_reassessment", Text, nullable=False),
    Column("customer_cautions", Text, nullable=False),
    Column("training_material", Text, nullable=False),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# The consultation desk (INC-5): inquiries from victims, their families, the police; recorded, answered, closed.
inquiry = Table(
    "inquiry",
    metadata,
    Column("id", String(40), primary_key=True),  # inq_…, time-ordered: the desk's queue pages by it
    Column("received_at", UtcDateTime, nullable=False),  # when the caller reached the desk (given, or now)
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(40), nullable=False),
    Column("customer_id", String(40), nullable=True),
    Column("incident_id", String(40), nullable=True),  # the incident it belongs to, as given (inc_…)
    Column("channel", String(8), nullable=False),  # phone | email | letter | counter | web
    Column("caller", String(8), nullable=False),  # customer | family | police | other
    Column("summary", Text, nullable=False),
    Column("status", String(12), nullable=False),  # new | in_progress | answered | closed
    Column("status_changed_at", UtcDateTime, nullable=False),
    Column("status_changed_by", String(40), nullable=False),
    Index("ix_inquiry_customer", "customer_id"),
    Index("ix_inquiry_incident", "incident_id"),
    Index("ix_inquiry_status", "status"),
)

# What the desk told the caller, append-only: never updated, never deleted.
inquiry_answer = Table(
    "inquiry_answer",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("inquiry_id", String(40), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(40), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_inquiry_answer_inquiry", "inquiry_id", "at"),
)
