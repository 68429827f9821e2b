"""Every column txn seals with the data keys (DATA-2): what `sekisho keys rotate` re-encrypts after a new key is
put first. A new sealed column goes here too (tests/shared/test_sealed_columns.py fails until it does)."""

from __future__ import annotations

from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("dispute", "id", "description", "dispute.description"),
    SealedColumn("bank_link", "id", "account_number", "bank_link.account_number"),
    SealedColumn("bank_link", "id", "holder_kana", "bank_link.holder_kana"),
    OUTBOX_PAYLOAD,
)
