"""Opaque identifiers: a short type prefix and 128 random bits, sortable by creation time."""

from __future__ import annotations

import base64
import os
import re
import time

_ID = re.compile(r"^[a-z]{2,8}_[0-9a-z]{26}$")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A ULID-shaped id (48-bit millisecond time + 80 random bits) behind `prefix_`, e.g. `cus_01j…`."""
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode((millis << 80) | rand, 26)}"


def is_id(value: str, prefix: str | None = None) -> bool:
    if not _ID.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")


def new_token(nbytes: int = 32) -> str:
    """A random url-safe secret (for request ids, nonces, refresh tokens)."""
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode()
