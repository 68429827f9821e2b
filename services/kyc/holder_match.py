"""Whether a bank account's holder is the customer kyc verified (KYC-4): the holder's name in kana as the bank
writes it, against the verified identity's kana; the birth date only where the bank supplies one.

The names are compared in the form shared/kana.py reduces them to (as banks write them in the Zengin character
set), so that only another name counts as a difference.
"""

from __future__ import annotations

from datetime import date

from shared.contracts.identity import MatchedAttribute
from shared.kana import same_holder


def mismatches(
    *, verified_kana: str, verified_birth_date: date, holder_kana: str, holder_birth_date: date | None
) -> list[MatchedAttribute]:
    """What the bank's holder differs in from the verified identity; an empty list is the same person."""
    found: list[MatchedAttribute] = []
    if not same_holder(holder_kana, verified_kana):
        found.append("name_kana")
    if holder_birth_date is not None and holder_birth_date != verified_birth_date:
        found.append("birth_date")
    return found
