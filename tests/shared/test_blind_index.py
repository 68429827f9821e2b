"""Blind indexes have a key of their own: data-key rotations never change them, and old databases keep theirs."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.crypto import FieldCipher, legacy_index_key_spec, new_key_spec, parse_index_key, parse_keys
from tests.harness import TEST_BLIND_INDEX_KEY, TEST_DATA_KEYS

EMAIL = "hanako.sato@example.jp"


def test_a_rotation_of_the_data_keys_leaves_every_index_alone() -> None:
    index_key = parse_index_key(TEST_BLIND_INDEX_KEY)[1]
    before = FieldCipher(parse_keys(TEST_DATA_KEYS), index_key=index_key)
    after = FieldCipher(parse_keys(f"{new_key_spec('k2')},{TEST_DATA_KEYS}"), index_key=index_key)
    assert after.current == "k2"
    assert after.blind_index(EMAIL, context="customer.email") == before.blind_index(EMAIL, context="customer.email")
    assert after.open(before.seal(EMAIL, context="c"), context="c") == EMAIL


def test_the_legacy_key_gives_the_indexes_sekisho_made_before_from_its_first_data_key() -> None:
    data_key = parse_keys(TEST_DATA_KEYS)["t1"]
    # What FieldCipher computed before the blind index had a key of its own.
    old_key = hashlib.sha256(b"sekisho-blind-index:" + data_key).digest()
    old_index = hmac.new(old_key, f"customer.email\0{EMAIL}".encode(), hashlib.sha256).hexdigest()
    spec = legacy_index_key_spec(TEST_DATA_KEYS, "t1")
    assert spec.startswith("legacyt1:")
    cipher = FieldCipher(parse_keys(f"{new_key_spec('k2')},{TEST_DATA_KEYS}"), index_key=parse_index_key(spec)[1])
    assert cipher.blind_index(EMAIL, context="customer.email") == old_index
    with pytest.raises(ValueError, match="no data key 'k9'"):
        legacy_index_key_spec(TEST_DATA_KEYS, "k9")


def test_one_blind_index_key_and_no_index_without_it() -> None:
    with pytest.raises(ValueError, match="one blind-index key"):
        parse_index_key(f"{new_key_spec('a')},{new_key_spec('b')}")
    with pytest.raises(ValueError, match="32 bytes"):
        parse_index_key("bi1:AAAA")
    with pytest.raises(RuntimeError, match="SEKISHO_BLIND_INDEX_KEY"):
        FieldCipher(parse_keys(TEST_DATA_KEYS)).blind_index(EMAIL, context="customer.email")
