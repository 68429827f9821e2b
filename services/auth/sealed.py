"""Every column auth seals with the data keys (DATA-2): what `sekisho keys rotate` re-encrypts after a new key is
put first. A new sealed column goes here too (tests/shared/test_sealed_columns.py fails until it does)."""

from __future__ import annotations

from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn

_CUSTOMER = ("email", "phone", "name", "name_kana", "birth_date", "address")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    *(SealedColumn("customer", "id", column, f"customer.{column}") for column in _CUSTOMER),
    SealedColumn("contact_change", "id", "new_value", "contact_change.{attribute}"),  # attribute: email | phone
    SealedColumn("challenge", "id", "pending", "challenge.pending"),  # login.PENDING_CONTEXT, staff's too
    SealedColumn("totp_factor", "customer_id", "secret", "totp_factor.secret"),
    SealedColumn("staff", "id", "totp_secret", "staff.totp_secret"),
    OUTBOX_PAYLOAD,
)
