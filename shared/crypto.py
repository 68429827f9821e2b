"""Personal data encrypted at rest (DATA-2): AES-256-GCM per field, with the key id kept for rotation.

A sealed value reads `v1.<key id>.<base64url(nonce || ciphertext+tag)>`. The column it belongs to is
bound in as associated data, so a value copied into another column does not decrypt. Keys come from
`SEKISHO_DATA_KEYS` (`kid:base64key,…`, the first one encrypts, all decrypt).

Blind indexes (the keyed digests e-mail addresses and phone numbers are looked up by) have a key of their own,
`SEKISHO_BLIND_INDEX_KEY` (`name:base64key`), independent of the data keys: a rotation of the data keys must
never change an index, or no customer would be found again. Before it existed, the index key was derived from
the first data key; `legacy_index_key` gives that derivation, for a database whose indexes were made so.
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


def parse_keys(spec: str, *, what: str = "data key") -> dict[str, bytes]:
    """`kid:base64key,kid2:base64key` -> {kid: 32-byte key}, in the given order."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (item.strip() for item in spec.split(","))):
        kid, sep, encoded = part.partition(":")
        if not sep or not kid.isalnum():
            raise ValueError(f"each {what} is written `name:base64key` with an alphanumeric name")
        try:
            key = _b64decode(encoded)
        except ValueError as exc:
            raise ValueError(f"{what} {kid!r} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"{what} {kid!r} must be 32 bytes")
        keys[kid] = key
    if not keys:
        raise ValueError(f"no {what} given")
    return keys


def parse_index_key(spec: str) -> tuple[str, bytes]:
    """`name:base64key` -> (name, 32-byte key): the one blind-index key (an index cannot be looked up under two)."""
    keys = parse_keys(spec, what="blind-index key")
    if len(keys) != 1:
        raise ValueError("give one blind-index key, `name:base64key`: indexes made with another key are not found")
    return next(iter(keys.items()))


def legacy_index_key(data_key: bytes) -> bytes:
    """The blind-index key sekisho derived from its first data key before blind indexes had a key of their own."""
    return hashlib.sha256(b"sekisho-blind-index:" + data_key).digest()


def legacy_index_key_spec(data_keys: str, kid: str) -> str:
    """SEKISHO_BLIND_INDEX_KEY that keeps the indexes of a database made before: the derivation from data key `kid`
    (the one that was first in SEKISHO_DATA_KEYS when they were made)."""
    keys = parse_keys(data_keys)
    if kid not in keys:
        raise ValueError(f"no data key {kid!r} in SEKISHO_DATA_KEYS (there are: {', '.join(keys)})")
    return f"legacy{kid}:{_b64encode(legacy_index_key(keys[kid]))}"


def new_key_spec(kid: str = "k1") -> str:
    return f"{kid}:{_b64encode(os.urandom(32))}"


class FieldCipher:
    """Seals with the first data key, opens with any; `index_key` keys the blind indexes (only services that look
    personal data up, auth, need one)."""

    def __init__(self, keys: dict[str, bytes], *, index_key: bytes | None = None) -> None:
        if not keys:
            raise ValueError("at least one data key is needed")
        if index_key is not None and len(index_key) != 32:
            raise ValueError("the blind-index key must be 32 bytes")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._index_key = index_key
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
        if self._index_key is None:
            raise RuntimeError("no blind-index key: set SEKISHO_BLIND_INDEX_KEY")
        return hmac.new(self._index_key, f"{context}\0{value}".encode(), hashlib.sha256).hexdigest()
