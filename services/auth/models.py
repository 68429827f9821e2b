"""Tables of the auth service's own schema.

Personal attributes are sealed (AES-256-GCM, DATA-2) with keyed blind indexes for the look-ups;
secrets (passwords, one-time codes, refresh tokens, grants) are stored only as hashes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, false

from shared.database import UtcDateTime, new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)

customer = Table(
    "customer",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email_index", String(64), nullable=False, unique=True),
    Column("phone_index", String(64), nullable=False, index=True),
    Column("email", Text, nullable=False),  # sealed
    Column("phone", Text, nullable=False),  # sealed
    Column("name", Text, nullable=False),  # sealed
    Column("name_kana", Text, nullable=False),  # sealed
    Column("birth_date", Text, nullable=False),  # sealed
    Column("address", Text, nullable=False),  # sealed
    Column("language", String(2), nullable=False),
    # KYC (shared/contracts/identity.py KycState): unverified | verified | reverification_required, as the kyc
    # service last said (kyc_status.py); the method, verification and time of the proof that stands or stood.
    Column("kyc_status", String(24), nullable=False),
    Column("kyc_method", String(8), nullable=True),  # ekyc | postal | jpki
    Column("kyc_verification_id", String(40), nullable=True),
    Column("kyc_verified_at", UtcDateTime, nullable=True),
    Column("kyc_changed_at", UtcDateTime, nullable=True),
    Column("password_hash", String(200), nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # When an e-mail or phone change last took effect: money waits a cool-off after it (the gateway's policy).
    Column("contact_changed_at", UtcDateTime, nullable=True),
    # When the password was last reset (password_reset.py): money waits the same cool-off as after a contact change.
    Column("password_reset_at", UtcDateTime, nullable=True),
    # Staff invalidated the password in an incident (INC-1: the passwords used are taken as stolen): no login with
    # it until the customer sets a new one (password_reset.py, or a change from a session of a passkey).
    Column("password_invalidated_at", UtcDateTime, nullable=True),
)

# A forgotten password being replaced (password_reset.py): a code by e-mail and a possession factor, each a challenge
# of its own, both proven before the new password is taken; used once. A login id that names no account gets a decoy
# (customer_id None) that answers alike and whose codes go to nobody.
password_reset = Table(
    "password_reset",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customer.id"), nullable=True, index=True),  # None: a decoy
    Column("subject", String(80), nullable=False),  # whose lockout guard counts its wrong codes (lockout.py)
    Column("email_challenge_id", String(40), ForeignKey("challenge.id"), nullable=False),
    Column("possession_challenge_id", String(40), ForeignKey("challenge.id"), nullable=False),
    Column("language", String(2), nullable=False),
    Column("status", String(12), nullable=False),  # pending | completed
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
)

# A change of e-mail or phone waiting for the code sent to the new contact (contact_changes.py).
contact_change = Table(
    "contact_change",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customer.id"), nullable=False, index=True),
    Column("attribute", String(8), nullable=False),  # email | phone
    Column("new_value", Text, nullable=False),  # sealed
    Column("code_hash", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # pending | applied | dead | superseded
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("applied_at", UtcDateTime, nullable=True),
)

# Every outcome kyc sent (kyc_status.py), by its verification id: each is applied once, whatever came between.
kyc_outcome = Table(
    "kyc_outcome",
    metadata,
    Column("id", String(40), primary_key=True),  # the verification id
    Column("customer_id", String(40), ForeignKey("customer.id"), nullable=False, index=True),
    Column("status", String(24), nullable=False),
    Column("method", String(8), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

# Lockout (AUTH-LOGIN-3), counted in the database so that replicas agree. Failures from a device that has
# logged in before are counted apart from strangers' (GHSA-3hrr-xwvg-hxvr); wrong one-time codes apart from
# wrong passwords (a right password must not wipe them out). The subject is a customer id, a staff id, or
# `?` + a keyed digest of a login id that names no account (lockout.unknown_subject): those rows expire.
login_guard = Table(
    "login_guard",
    metadata,
    Column("customer_id", String(80), primary_key=True),  # the subject
    Column("known_failures", Integer, nullable=False),
    Column("stranger_failures", Integer, nullable=False),
    Column("known_code_failures", Integer, nullable=False, server_default="0"),
    Column("stranger_code_failures", Integer, nullable=False),
    Column("known_locks", Integer, nullable=False),  # temporary locks in a row: the wait doubles each time
    Column("stranger_locks", Integer, nullable=False),
    Column("known_locked_until", UtcDateTime, nullable=True),  # applies to every device
    Column("stranger_locked_until", UtcDateTime, nullable=True),  # applies to devices never logged in before
    Column("hard_locked_at", UtcDateTime, nullable=True),  # everyone; lifted only by staff or re-verification
    Column("stranger_hard_locked_at", UtcDateTime, nullable=True),  # strangers only, same lifting
    Column("lock_reason", String(32), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),  # only for unknown login ids: forgotten after this
    Index("ix_login_guard_expires_at", "expires_at"),
)

# An application with an e-mail already registered (accounts.py): the decoy id it was answered with and a keyed
# digest of the password it chose, so that logging in with that password answers as for a new account.
decoy_application = Table(
    "decoy_application",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email_index", String(64), nullable=False, index=True),
    Column("password_digest", String(64), nullable=False),
    Column("language", String(2), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)

device = Table(
    "device",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customer.id"), nullable=False),
    Column("device_key", String(200), nullable=False),  # what the app sends as device_id
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("last_ip", String(64), nullable=False),
    Column("user_agent", String(300), nullable=False),
    Column("trusted_at", UtcDateTime, nullable=True),  # first full login on it
    Index("ix_device_customer_key", "customer_id", "device_key", unique=True),
)

auth_session = Table(
    "auth_session",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("subject_type", String(8), nullable=False),  # customer | staff
    Column("device_id", String(40), nullable=True),
    Column("factors", Text, nullable=False),  # JSON: [{class, method, at}]
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_reason", String(40), nullable=True),
    # The last refresh or request (staff sessions end after an idle timeout, sessions.TokenPolicy); None: before
    # it was kept, read as created_at.
    Column("last_active_at", UtcDateTime, nullable=True),
)

refresh_token = Table(
    "refresh_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(40), ForeignKey("auth_session.id"), nullable=False, index=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),  # rotated: a second use means theft, the family dies
)

challenge = Table(
    "challenge",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False, index=True),
    Column("purpose", String(16), nullable=False),  # login | step_up
    Column("operation", String(32), nullable=False),
    Column("fields_digest", String(64), nullable=False),
    Column("summary", Text, nullable=False),  # JSON: what is being approved (operation, amount, ...)
    Column("methods", String(100), nullable=False),  # comma-separated
    Column("pending", Text, nullable=True),  # sealed JSON: the login waiting for this challenge
    Column("code_hash", String(64), nullable=True),
    Column("code_method", String(8), nullable=True),
    Column("code_expires_at", UtcDateTime, nullable=True),
    Column("codes_sent", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(8), nullable=False),  # pending | verified | dead | expired
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

step_up_grant = Table(
    "step_up_grant",
    metadata,
    Column("grant_hash", String(64), primary_key=True),
    Column("challenge_id", String(40), ForeignKey("challenge.id"), nullable=False),
    Column("customer_id", String(40), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("fields_digest", String(64), nullable=False),
    Column("factor", Text, nullable=False),  # JSON {class, method, at}
    Column("expires_at", UtcDateTime, nullable=False),
    Column("redeemed_at", UtcDateTime, nullable=True),
)

totp_factor = Table(
    "totp_factor",
    metadata,
    Column("customer_id", String(40), primary_key=True),
    Column("secret", Text, nullable=False),  # sealed
    Column("confirmed_at", UtcDateTime, nullable=True),
    Column("last_used_step", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # A replacement app being enrolled (sealed): the confirmed secret keeps working until the new one is confirmed.
    Column("pending_secret", Text, nullable=True),
)

# Single-use recovery codes (recovery_codes.py), only as keyed hashes: a new set replaces every row of the customer.
recovery_code = Table(
    "recovery_code",
    metadata,
    Column("customer_id", String(40), ForeignKey("customer.id"), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)


# Passkeys (WebAuthn credentials, passkeys.py): the public key and what the authenticator said of itself. Only the
# public key is held: nothing here signs anything. A customer's and a staff member's (staff_passkey) alike.
def _passkey_columns() -> list[Column[Any]]:
    return [
        Column("credential_id", String(1400), nullable=False, unique=True),  # base64url, as the browser names it
        Column("public_key", Text, nullable=False),  # base64url COSE key
        Column("sign_count", BigInteger, nullable=False),  # the authenticator's counter (32 bits unsigned)
        Column("transports", String(200), nullable=False),  # comma-separated hints: internal, hybrid, usb …
        Column("aaguid", String(36), nullable=False),  # the authenticator's model (all zeros when not told)
        Column("kind", String(3), nullable=False),  # hwk: bound to one device | swk: synced or backup-eligible
        Column("backed_up", Boolean, nullable=False),
        Column("name", String(64), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("last_used_at", UtcDateTime, nullable=True),
    ]


passkey = Table(
    "passkey",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customer.id"), nullable=False, index=True),
    *_passkey_columns(),
)

# One WebAuthn ceremony's challenge, held by the server: used once, within minutes (passkeys.py).
webauthn_ceremony = Table(
    "webauthn_ceremony",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("purpose", String(12), nullable=False),  # registration | login | step_up | staff_reg | staff_login
    Column("customer_id", String(40), nullable=True),  # none for a login: the passkey names the customer
    Column("challenge_id", String(40), nullable=True, index=True),  # the step-up challenge it answers
    Column("challenge", String(128), nullable=False),  # base64url
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Column("used_at", UtcDateTime, nullable=True),
)

staff = Table(
    "staff",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("login_id", String(100), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # analyst | supervisor | admin
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", Text, nullable=False),  # sealed
    Column("last_used_step", Integer, nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # An outsourced operator (DATA-4): never full values, no indicator export, no audit trail, whatever the role.
    Column("outsourced", Boolean, nullable=False, server_default=false()),
)

# A staff member's passkeys (staff_passkeys_api.py): as a customer's, held apart so that neither kind of account
# can ever answer for the other.
staff_passkey = Table(
    "staff_passkey",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("staff_id", String(40), ForeignKey("staff.id"), nullable=False, index=True),
    *_passkey_columns(),
)

ip_throttle = Table(
    "ip_throttle",
    metadata,
    Column("id", String(80), primary_key=True),  # "<ip or /24>:<window start>"
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UtcDateTime, nullable=False),
)

# The staff audit trail of every service (SEC-6, shared/audit.py): append-only, never updated or deleted.
audit_entry = Table(
    "audit_entry",
    metadata,
    Column("id", String(40), primary_key=True),  # the entry id: a redelivery is the same row
    Column("at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("service", String(16), nullable=False),
    Column("actor_id", String(40), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("session_id", String(40), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target_type", String(24), nullable=False),
    Column("target_id", String(80), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: what was read or changed, never the personal data itself
    Column("outsourced", Boolean, nullable=False, server_default=false()),  # the actor was an outsourced operator
    # The hash chain (audit_chain.py): a gap-free position, and the HMAC over the previous entry's chain value
    # and this entry, so that a changed, removed or reordered entry is found by `sekisho audit verify`.
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("chain", String(64), nullable=False),
    Index("ix_audit_entry_at", "at"),
    Index("ix_audit_entry_actor_at", "actor_id", "at"),
    Index("ix_audit_entry_target_at", "target_id", "at"),
)

# Which customers each audit entry names, in its target or anywhere in its detail (a search's results, a list's
# filter): what `GET /v1/ops/audit?customer_id=` finds an entry by. Written with the entry, append-only like it.
audit_customer = Table(
    "audit_customer",
    metadata,
    Column("entry_id", String(40), ForeignKey("audit_entry.id"), primary_key=True),
    Column("customer_id", String(40), primary_key=True),
    Index("ix_audit_customer_customer_id", "customer_id"),
)

# Devices believed infected (SEC-3, device_blocks.py), per customer and device digest: no login of that customer
# from that phone while a block stands, whatever fraud's score says (or whether fraud answers at all). Lifted, never
# deleted.
device_block = Table(
    "device_block",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), nullable=False),
    Column("device_digest", String(40), nullable=False),  # sha256:… of the app's device key, as fraud names it
    Column("source", String(8), nullable=False),  # staff | app
    Column("ref", String(60), nullable=False),  # fraud's deny entry (block:<id>), or the app's report
    Column("blocked_at", UtcDateTime, nullable=False),
    Column("until", UtcDateTime, nullable=True),  # the deny entry's expiry, if it has one
    Column("lifted_at", UtcDateTime, nullable=True),
    Index("ix_device_block_customer_digest", "customer_id", "device_digest"),
)
