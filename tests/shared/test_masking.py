"""mask_apart: two contacts masked alike are shown apart with as little more as it takes, never in full."""

from __future__ import annotations

import pytest

from shared.masking import mask_apart, mask_email, mask_phone


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        ("email", "hanako.sato@example.jp", "hiro@example.jp"),
        ("email", "hanako.sato@example.jp", "harumi.sato@example.jp"),
        ("email", "abcXdef@example.jp", "abcYdef@example.jp"),
        ("phone", "+819012345678", "+818012345678"),
        ("phone", "+819012345678", "+819022345678"),  # they differ in the one digit the prefix rule hides
        ("phone", "+819012345678", "+819012355678"),
    ],
)
def test_contacts_masked_alike_are_shown_apart_never_in_full(kind: str, old: str, new: str) -> None:
    shown_old, shown_new = mask_apart(kind, old, new)
    assert shown_old != shown_new
    for shown, value in ((shown_old, old), (shown_new, new)):
        assert "*" in shown
        assert shown != value
        digits = "".join(ch for ch in value if ch.isdigit())
        assert kind != "phone" or digits[2:] not in shown.replace("-", "")


def test_contacts_that_mask_apart_already_are_masked_as_always() -> None:
    assert mask_apart("email", "taro@example.jp", "yamada@example.com") == (
        mask_email("taro@example.jp"),
        mask_email("yamada@example.com"),
    )
    assert mask_apart("phone", "+819012345678", "08098765432") == (
        mask_phone("+819012345678"),
        mask_phone("08098765432"),
    )
