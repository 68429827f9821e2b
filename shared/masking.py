"""What a notification may show of personal data (DATA-1): enough to recognise, never enough to use."""

from __future__ import annotations

import re


def mask_account(number: str) -> str:
    """A card or bank account number: its last 4 digits only (`****1234`)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return "****" + digits[-4:] if len(digits) > 4 else "****"


def mask_email(email: str) -> str:
    """`taro.yamada@example.jp` -> `t***@example.jp`."""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """`+819012345678` -> `***-****-5678`: the last 4 digits."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "***-****-" + digits[-4:] if len(digits) > 4 else "***"


_PREFECTURE = re.compile(r"^(東京都|北海道|(?:京都|大阪)府|.{2,3}県)")
_MUNICIPALITY = re.compile(r"^.+?[市区町村郡]")


def mask_address(address: str) -> str:
    """A Japanese address shows its prefecture and municipality only (`大阪府大阪市…`); anything else, a third."""
    text = address.strip()
    prefecture = _PREFECTURE.match(text)
    if prefecture:
        rest = text[prefecture.end() :]
        municipality = _MUNICIPALITY.match(rest)
        shown = prefecture.group(0) + (municipality.group(0) if municipality else "")
        return shown + "…"
    return text[: max(1, len(text) // 3)] + "…"


def _national_digits(phone: str) -> str:
    """The digits of a Japanese number as dialled at home (`+819012345678` -> `09012345678`), others as they are."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+81"):
        return "0" + digits[2:]
    return digits


def _phone_levels(phone: str) -> list[str]:
    """Ever more of the number shown, each hiding at least one digit: the last 4; the carrier prefix too; then more
    digits from the end; at last all but the digit after the prefix, or all but the one after it."""
    digits = _national_digits(phone)
    levels = [mask_phone(phone)]
    n = len(digits)
    if n <= 8:
        return levels

    def shown(visible: str) -> str:
        return f"{visible[:3]}-{visible[3:-4]}-{visible[-4:]}"

    for tail in range(4, n - 3):
        levels.append(shown(digits[:3] + "*" * (n - 3 - tail) + digits[n - tail :]))
    levels.append(shown(digits[:4] + "*" + digits[5:]))
    return levels


def _email_levels(email: str) -> list[str]:
    """Ever more of the part before the @ shown, each hiding at least one character: its first; then its first k and
    last k-1; at last all but its first and last."""
    local, _, domain = email.partition("@")
    levels = [mask_email(email)]
    if not domain:
        return levels
    k = 2
    while 2 * k - 1 < len(local):
        levels.append(f"{local[:k]}***{local[-(k - 1) :]}@{domain}")
        k += 1
    if len(local) >= 3:
        levels.append(f"*{local[1:-1]}*@{domain}")
    return levels


def mask_apart(kind: str, old: str, new: str) -> tuple[str, str]:
    """`old` and `new` masked alike and still told apart (the notice of a contact change names both, AUTH-ATTR-2):
    the least shown at which the two differ. `kind`: email | phone | address (addresses are masked as always: their
    prefecture and municipality)."""
    if kind == "address":
        return mask_address(old), mask_address(new)
    levels = _email_levels if kind == "email" else _phone_levels
    old_levels, new_levels = levels(old), levels(new)
    for index in range(max(len(old_levels), len(new_levels))):
        shown_old = old_levels[min(index, len(old_levels) - 1)]
        shown_new = new_levels[min(index, len(new_levels) - 1)]
        if shown_old != shown_new:
            return shown_old, shown_new
    # Addresses too short to mask apart (a one- or two-letter name at the same domain): the same mask, as before.
    return old_levels[0], new_levels[0]
