"""Every column the gateway seals with the data keys (DATA-2): what `sekisho keys rotate` re-encrypts after a new
key is put first. A new sealed column goes here too (tests/shared/test_sealed_columns.py fails until it does)."""

from __future__ import annotations

from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("partner_key", "key_id", "secret", "partner_key.secret"),  # partners.CIPHER_CONTEXT
    OUTBOX_PAYLOAD,
)
