"""Personal data encrypted at rest (DATA-2): AES-256-GCM per field, with the key id kept for rotation.

A sealed value reads `v1.<key id>.<base64url(nonce || ciphertext+tag)>`. The column it belongs to is
bound in as associated data, so a value copied into another column does not decrypt. Keys come from
`SEKISHO_DATA_KEYS` (`kid:base64key,…`, the first one encrypts, all decrypt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"


class DecryptionError(Exception):
    """The sealed value was tampered with, belongs elsewhere, or its key is unknown."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_keys(spec: str) -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key` -> {kid: 32-byte key}, in the given order."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (item.strip() for item in spec.split(","))):
        kid, sep, encoded = part.partition(":")
        if not sep or not kid.isalnum():
            raise ValueError("each data key is written `kid:base64key` with an alphanumeric kid")
        key = _b64decode(encoded)
        if len(key) != 32:
            raise ValueError(f"data key {kid!r} must be 32 bytes (AES-256)")
        keys[kid] = key
    if not keys:
        raise ValueError("no data key given")
    return keys


def new_key_spec(kid: str = "k1") -> str:
    return f"{kid}:{_b64encode(os.urandom(32))}"


class FieldCipher:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ValueError("at least one data key is needed")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._index_key = hashlib.sha256(b"sekisho-blind-index:" + next(iter(keys.values()))).digest()
        self.current = next(iter(keys))

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{self.current}.{_b64encode(nonce + sealed)}"

    def open(self, token: str, *, context: str) -> str:
        try:
            version, kid, payload = token.split(".", 2)
            if version != _VERSION:
                raise DecryptionError("unknown sealed-value version")
            raw = _b64decode(payload)
            return self._keys[kid].decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as exc:
            raise DecryptionError("the value cannot be decrypted") from exc

    def blind_index(self, value: str, *, context: str) -> str:
        """A keyed digest for equality look-ups (email, phone) without storing the value in clear."""
        return hmac.new(self._index_key, f"{context}\0{value}".encode(), hashlib.sha256).hexdigest()
