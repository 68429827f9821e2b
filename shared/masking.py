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
