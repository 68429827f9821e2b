"""Every column kyc seals with the data keys (DATA-2): what `sekisho keys rotate` re-encrypts after a new key is
put first. A new sealed column goes here too (tests/shared/test_sealed_columns.py fails until it does)."""

from __future__ import annotations

from shared.sealed_columns import OUTBOX_PAYLOAD, SealedColumn

_VERIFIED = ("name", "name_kana", "birth_date", "address")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("verification_case", "id", "declared", "verification_case.declared"),
    SealedColumn("verification_image", "id", "content", "verification_image.content"),
    SealedColumn("jpki_challenge", "verification_id", "certificate_identity", "jpki_challenge.certificate_identity"),
    *(SealedColumn("verified_identity", "id", column, f"verified_identity.{column}") for column in _VERIFIED),
    OUTBOX_PAYLOAD,
)
