"""Tables of the txn service's own schema: the ledger (postings and their entries, append-only), credit lines and
their history, the holds that reserve credit before money moves, bank links with their charges, disputes and the
credit information txn reports."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

# One business event that moved money (a completed withdrawal, a charge, a relief): its entries sum to zero. Never
# updated or deleted; a correction is a new posting. (kind, reference) is unique: the same event never posts twice,
# whatever retries and replicas do.
posting = Table(
    "posting",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(24), nullable=False),  # ledger.PostingKind
    Column("reference", String(80), nullable=False),  # the id of what caused it (authorization, charge, dispute…)
    Column("customer_id", String(40), nullable=True, index=True),
    Column("amount", BigInteger, nullable=False),  # yen, > 0: what the customer sees as the transaction's amount
    Column("memo", String(200), nullable=True),
    Column("actor", String(40), nullable=False),  # "customer", "partner:<id>", "system" or a staff id
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "reference", name="uq_posting_kind_reference"),
    Index("ix_posting_customer_created", "customer_id", "created_at"),
)

# Double entry: a positive amount is a debit, a negative one a credit; an account's balance is the sum of its entries.
entry = Table(
    "ledger_entry",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("posting_id", String(40), ForeignKey("posting.id"), nullable=False, index=True),
    Column("account", String(80), nullable=False),  # ledger.Account names, e.g. "customer:cus_…:credit"
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_ledger_entry_account", "account"),
)

# The credit line staff set per customer (PUT /v1/ops/customers/{id}/credit-line). Its row is the lock every
# operation that draws on the line takes first (SELECT … FOR UPDATE), so concurrent draws never pass the limit.
credit_line = Table(
    "credit_line",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("credit_limit", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(40), nullable=False),
)

# Append-only: every change of a credit line, with who and why.
credit_line_change = Table(
    "credit_line_change",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("old_limit", BigInteger, nullable=True),
    Column("new_limit", BigInteger, nullable=False),
    Column("staff_id", String(40), nullable=False),
    Column("reason", String(300), nullable=True),
    Column("at", UtcDateTime, nullable=False),
)

# Credit reserved for an operation in flight (an authorized ATM withdrawal): counted against the line until it is
# captured (the posting is made), released (reversed) or expired (the sweeper). Not money: the ledger moves only at
# capture.
hold = Table(
    "credit_hold",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # withdrawal
    Column("reference", String(80), nullable=False, unique=True),  # the authorization it reserves for
    Column("amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # active | captured | released | expired
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("settled_at", UtcDateTime, nullable=True),
    Index("ix_credit_hold_customer_status", "customer_id", "status"),
    Index("ix_credit_hold_status_expires", "status", "expires_at"),
)

# -- smartphone-ATM withdrawals (issue 15, txn-atm) ------------------------------------------------------------------

# A partner ATM's session, shown as a QR: `sekisho-atm:<id>:<secret>`. Only a keyed digest of the secret is kept, so
# that the session id alone (which the partner sends in clear) cannot stand for the QR the customer scanned.
atm_session = Table(
    "atm_session",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("partner_id", String(40), nullable=False),
    Column("atm_id", String(64), nullable=False),
    Column("qr_digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_atm_session_partner_atm", "partner_id", "atm_id"),
)

# The customer's request to take cash at one ATM session (at most one per session: session_id is unique), and the
# one-time code the partner must present with the same amount. The code is kept only as a keyed digest.
withdrawal = Table(
    "withdrawal",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("session_id", String(40), ForeignKey("atm_session.id"), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("code_expires_at", UtcDateTime, nullable=False),
    Column("failed_attempts", Integer, nullable=False),  # wrong codes or amounts presented for it
    Column("device_id", String(40), nullable=True),  # the app's, as the gateway said: the authorize is scored with it
    Column("status", String(12), nullable=False),  # withdrawals.Status
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The partner's authorization of a withdrawal, approved (a credit hold reserves its amount), then completed (the
# ledger moves), reversed or expired. One per withdrawal; (partner_id, request_id) is the partner's own name for it.
atm_authorization = Table(
    "atm_authorization",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("partner_id", String(40), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("withdrawal_id", String(40), ForeignKey("withdrawal.id"), nullable=False, unique=True),
    Column("customer_id", String(40), nullable=False),
    Column("atm_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # settlements.Status
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),  # the hold's: neither completed nor reversed by then, expired
    Column("settled_at", UtcDateTime, nullable=True),
    UniqueConstraint("partner_id", "request_id", name="uq_atm_authorization_partner_request"),
    # A customer's withdrawals of the day and the month (the limits), and the sweeper's due authorizations.
    Index("ix_atm_authorization_customer_created", "customer_id", "created_at"),
    Index("ix_atm_authorization_status_expires", "status", "expires_at"),
)

# Idempotency keys (Stripe's, the IETF Idempotency-Key draft's): per scope (e.g. "partner:<id>") and key (the
# partner's request_id), the first request's fingerprint and, once it finished, its answer byte for byte. A key is
# claimed (in_progress) in a transaction of its own before the work, with a lease that a crashed worker lets lapse;
# a tombstone is a key a reversal reached first: the request that comes later under it is declined.
idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("scope", String(60), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("fingerprint", String(64), nullable=True),  # keyed digest of the payload; NULL for a tombstone
    Column("state", String(12), nullable=False),  # idempotency.State
    Column("lease_token", String(40), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
    Index("ix_idempotency_key_created", "created_at"),  # the sweeper forgets keys past their retention
)

# -- disputes and victim relief (INC-6, INC-7) ------------------------------------------------------------------------

# A customer's report that transactions were not theirs, opened by them in the app or by staff for a caller (the
# emergency contact route). disputes.py's state machine: open -> under_review (the victim declared they will not bear
# the debt) -> relieved | rejected.
dispute = Table(
    "dispute",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # disputes.Status
    Column("channel", String(8), nullable=False),  # app | desk
    Column("opened_by", String(40), nullable=False),  # "customer" or the staff id who took the call
    Column("description", Text, nullable=False),  # sealed (DATA-2): the victim's account of what happened
    Column("declared_at", UtcDateTime, nullable=True),  # the victim's declaration: INC-7's clock starts here
    Column("declared_by", String(40), nullable=True),  # "customer" or the staff id who recorded it
    Column("relief_due_at", UtcDateTime, nullable=True),  # declared_at + the policy's target_days
    Column("policy_version", Integer, nullable=True),  # the relief policy the decision was made under
    Column("relieved_amount", BigInteger, nullable=True),
    Column("decided_by", String(40), nullable=True),
    Column("decision_reason", String(500), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_dispute_status_due", "status", "relief_due_at"),
)

# The transactions (postings) a dispute names. `claim` holds the posting id while the dispute is not rejected: unique,
# so one transaction is in at most one live or relieved dispute and can never be relieved twice through two disputes.
dispute_transaction = Table(
    "dispute_transaction",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("dispute_id", String(40), ForeignKey("dispute.id"), nullable=False, index=True),
    Column("posting_id", String(40), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("amount", BigInteger, nullable=False),  # what the posting moved, as the customer saw it
    Column("claim", String(40), nullable=True, unique=True),
    Column("relief_posting_id", String(40), nullable=True),
    Column("relieved_amount", BigInteger, nullable=True),
    UniqueConstraint("dispute_id", "posting_id", name="uq_dispute_transaction_dispute_posting"),
)

# Append-only: every move of a dispute, with who and why.
dispute_transition = Table(
    "dispute_transition",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("dispute_id", String(40), ForeignKey("dispute.id"), nullable=False, index=True),
    Column("from_status", String(16), nullable=True),  # None: opened
    Column("to_status", String(16), nullable=False),
    Column("actor", String(40), nullable=False),  # "customer", "system" or a staff id
    Column("reason", String(500), nullable=True),
    Column("at", UtcDateTime, nullable=False),
)

# What txn reported, or would report, to the credit bureau about a customer: a withdrawal's debt, a delinquency.
# Records a fraud caused are flagged `deletion_requested` by the relief that names them (INC-6 (c) 信用情報の抹消);
# the record stays, so what was reported and when it was withdrawn can both be shown.
credit_information_record = Table(
    "credit_information_record",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # debt | delinquency
    Column("posting_id", String(40), nullable=True, index=True),  # the posting that caused it
    Column("amount", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),  # reported | deletion_requested | deleted
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("deletion_dispute_id", String(40), nullable=True),
    Column("deletion_requested_by", String(40), nullable=True),
    Column("deletion_requested_at", UtcDateTime, nullable=True),
    # The bureau's acknowledgements (credit_bureau.py, added by txn_0008): of the report, and of the deletion.
    Column("reported_at", UtcDateTime, nullable=True),
    Column("bureau_reference", String(40), nullable=True),
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("deletion_reference", String(40), nullable=True),
    UniqueConstraint("kind", "posting_id", name="uq_credit_information_record_kind_posting"),
)

# --- Bank links and charges (issue 15: KYC-4, LINK-1..4, INC-9) ---

# A charge contract: the customer's account at a bank, from which charges fund the wallet. The account number and
# the bank's holder name are sealed (DATA-2); `account_digest` is their keyed digest (fraud's `bank_account`), by
# which the same account is found across links and customers. The rules the link was made under are recorded with
# it, so that a later, stricter rule set can find the links made under weaker ones (INC-9, link_review.py).
bank_link = Table(
    "bank_link",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("bank_code", String(4), nullable=False),
    Column("bank_name", String(100), nullable=False),  # as the bank adapter named it at the link
    Column("branch_code", String(3), nullable=False),
    Column("account_number", String(200), nullable=False),  # sealed, context "bank_link.account_number"
    Column("account_last4", String(4), nullable=False),
    Column("account_digest", String(64), nullable=False),  # blind index of "bank-branch-number", context bank_account
    Column("holder_kana", String(400), nullable=True),  # sealed: the holder as the bank wrote it (None: not asked)
    # active | suspended_pending_reverification (INC-9) | replaced (linked again under today's rules)
    Column("status", String(40), nullable=False),
    Column("rules_version", Integer, nullable=False),  # bank_links.RULES_VERSION at the link
    Column("kyc_method", String(16), nullable=True),  # the verification the holder was matched against
    Column("kyc_verification_id", String(40), nullable=True),
    Column("possession_factor", String(16), nullable=True),  # the step-up the gateway vouched for (sms, totp …)
    Column("holder_matched_at", UtcDateTime, nullable=True),  # None: no holder match was made (legacy links)
    Column("created_at", UtcDateTime, nullable=False),
    Column("cool_off_until", UtcDateTime, nullable=False),
    Column("status_changed_at", UtcDateTime, nullable=True),
    Column("status_reason", String(200), nullable=True),
    Column("replaced_by", String(40), nullable=True),
    Index("ix_bank_link_customer_status", "customer_id", "status"),
    Index("ix_bank_link_account_digest", "account_digest"),
    # One active link per customer and account, whatever concurrent requests do.
    Index(
        "uq_bank_link_active_account",
        "customer_id",
        "account_digest",
        unique=True,
        postgresql_where=text("status = 'active'"),
        sqlite_where=text("status = 'active'"),
    ),
)

# One row per customer whose wallet was charged: the row every charge locks first (SELECT … FOR UPDATE), so that a
# customer's concurrent charges queue and the monthly cap, summed over all their links, is never passed.
wallet = Table(
    "wallet",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

# A completed charge: money drawn from a linked account into the wallet (its posting is the ledger's). Refused
# charges are not kept here (fraud has their `charge_requested` event). (customer, Idempotency-Key) is unique: the
# same key answers the first charge again and moves no money twice.
charge = Table(
    "charge",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("link_id", String(40), ForeignKey("bank_link.id"), nullable=False),
    Column("bank_code", String(4), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # completed
    Column("posting_id", String(40), nullable=False),
    Column("bank_reference", String(80), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_digest", String(64), nullable=True),  # of the body the key was first used with
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("customer_id", "idempotency_key", name="uq_charge_customer_idempotency_key"),
    Index("ix_charge_customer_created", "customer_id", "created_at"),
    Index("ix_charge_link_created", "link_id", "created_at"),
)

# Banks whose links and charges staff stopped (LINK-4): a suspended bank takes no new link and no charge.
bank_suspension = Table(
    "bank_suspension",
    metadata,
    Column("bank_code", String(4), primary_key=True),
    Column("suspended", Boolean, nullable=False),
    Column("reason", String(300), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(40), nullable=False),
)

# A run of the existing-link review (INC-9, `sekisho links review`): how far it got, so that a run killed midway
# continues from its cursor (the last link id it finished) and nobody is suspended or told twice.
link_review_run = Table(
    "link_review_run",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rules_version", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # running | done
    Column("cursor", String(40), nullable=True),
    Column("reviewed", Integer, nullable=False),
    Column("suspended", Integer, nullable=False),
    Column("notified", Integer, nullable=False),
    Column("total_at_start", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_link_review_run_status", "status"),
)

# --- Publication of fraud cases (issue 15: INC-6 (e) 公表) ---

# A notice staff published about a fraud case, for the public (GET /v1/notices): never customer data. The disputes
# it is about are kept for staff only, as JSON text of their ids.
publication = Table(
    "publication",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("language", String(2), nullable=False),  # ja | en
    Column("dispute_ids", Text, nullable=False),
    Column("published_by", String(40), nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Index("ix_publication_published_at", "published_at"),
)
