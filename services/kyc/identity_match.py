"""Whether two statements of one person's identity agree: what a JPKI certificate states against what the customer
declared, and what auth says now against what a case was opened with.

A certificate writes the name with a full-width space and the address in 丁目/番/号 with full-width digits; a
customer types "1-2-3" and may put the postal code first. Both are reduced to one form before they are compared, so
that only a real difference (another person, another address) counts.
"""

from __future__ import annotations

import re
import unicodedata

from shared.contracts.identity import DeclaredIdentity

_POSTAL_PREFIX = re.compile(r"^〒?\s*\d{3}-?\d{4}\s*")
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−ー－", "-"))
_BLOCK_WORDS = re.compile(r"(\d)(?:丁目|番地|番|号|の)")


def _plain(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def normal_name(name: str) -> str:
    return _plain(name)


def normal_address(address: str) -> str:
    text = _POSTAL_PREFIX.sub("", unicodedata.normalize("NFKC", address).strip())
    text = _plain(text).translate(_DASHES)
    text = _BLOCK_WORDS.sub(r"\1-", text)
    return re.sub(r"-+", "-", text).rstrip("-")


def differences(declared: DeclaredIdentity, proven: DeclaredIdentity) -> list[str]:
    """The attributes of `proven` (name, birth date, address) that differ from the declared ones. Kana is not
    compared: a JPKI certificate has none (the proven identity carries the declared kana)."""
    found = []
    if normal_name(declared.name) != normal_name(proven.name):
        found.append("name")
    if declared.birth_date != proven.birth_date:
        found.append("birth_date")
    if normal_address(declared.address) != normal_address(proven.address):
        found.append("address")
    return found


def changed_since(snapshot: DeclaredIdentity, now: DeclaredIdentity) -> list[str]:
    """The verified attributes auth holds differently from the case's snapshot (exact: both are auth's words)."""
    return [
        name for name in ("name", "name_kana", "birth_date", "address") if getattr(snapshot, name) != getattr(now, name)
    ]
