"""Every column notify seals with the data keys (DATA-2): what `sekisho keys rotate` re-encrypts after a new key is
put first. A new sealed column goes here too (tests/shared/test_sealed_columns.py fails until it does)."""

from __future__ import annotations

from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn

_MESSAGE = ("recipient", "subject", "body")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    *(SealedColumn("delivery", "id", column, f"delivery.{column}") for column in _MESSAGE),
    *(SealedColumn("letter", "id", column, f"letter.{column}") for column in ("address", "body")),
    *(SealedColumn("mailbox_message", "id", column, f"mailbox_message.{column}") for column in _MESSAGE),
    OUTBOX_PAYLOAD,
)
