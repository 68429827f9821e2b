"""TOTP from an authenticator app: RFC 6238 codes, a one-step drift either way, no code used twice. No I/O."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from services.auth.totp import STEP_SECONDS, current_code, new_secret, provisioning_uri, verify_totp
from shared.clock import FrozenClock

# 2026-01-05 09:00:00 UTC, the FrozenClock's default start: the first second of a 30 s step.
STEP_START = FrozenClock().timestamp()
NOW = STEP_START + 10
STEP = int(NOW // STEP_SECONDS)


@pytest.fixture
def secret() -> str:
    return new_secret()


def test_a_new_secret_is_160_random_bits_in_base32() -> None:
    first, second = new_secret(), new_secret()
    assert len(base64.b32decode(first)) == 20
    assert first != second
    assert first.isupper()
    assert "=" not in first


def test_the_provisioning_uri_is_what_an_authenticator_app_scans(secret: str) -> None:
    uri = provisioning_uri(secret, account_name="hanako.sato@example.jp", issuer="関所ローン")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/関所ローン:hanako.sato@example.jp"
    assert query["secret"] == [secret]
    assert query["issuer"] == ["関所ローン"]
    # Parameters left out mean the RFC defaults apps assume: SHA1, 6 digits, 30 s.
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert query.get("digits", ["6"]) == ["6"]
    assert query.get("period", ["30"]) == ["30"]


@pytest.mark.parametrize(
    ("at", "code"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_codes_match_the_rfc_6238_sha1_test_vectors(at: int, code: str) -> None:
    # RFC 6238 Appendix B, SHA1 key "12345678901234567890"; 6 digits are the last 6 of its 8.
    rfc_secret = base64.b32encode(b"12345678901234567890").decode()
    assert current_code(rfc_secret, at) == code


def test_the_code_of_the_current_step_is_accepted(secret: str) -> None:
    assert verify_totp(secret, current_code(secret, NOW), at=NOW, last_used_step=None) == STEP


@pytest.mark.parametrize("offset_steps", [-1, 1])
def test_a_code_one_step_early_or_late_is_accepted_for_clock_drift(secret: str, offset_steps: int) -> None:
    code = current_code(secret, NOW + offset_steps * STEP_SECONDS)
    assert verify_totp(secret, code, at=NOW, last_used_step=None) == STEP + offset_steps


@pytest.mark.parametrize("offset_steps", [-3, -2, 2, 3])
def test_a_code_two_or_more_steps_away_is_refused(secret: str, offset_steps: int) -> None:
    code = current_code(secret, NOW + offset_steps * STEP_SECONDS)
    assert verify_totp(secret, code, at=NOW, last_used_step=None) is None


@pytest.mark.req("AUTH-OTP-2")
def test_a_code_stops_working_one_minute_after_the_app_first_shows_it(secret: str) -> None:
    clock = FrozenClock()
    code = current_code(secret, clock.timestamp())  # shown from the first second of its step
    clock.advance(59)
    assert verify_totp(secret, code, at=clock.timestamp(), last_used_step=None) == int(STEP_START // STEP_SECONDS)
    clock.advance(1)
    assert verify_totp(secret, code, at=clock.timestamp(), last_used_step=None) is None


def test_a_code_of_another_secret_is_refused(secret: str) -> None:
    assert verify_totp(secret, current_code(new_secret(), NOW), at=NOW, last_used_step=None) is None


def test_the_same_code_is_refused_the_second_time(secret: str) -> None:
    code = current_code(secret, NOW)
    used = verify_totp(secret, code, at=NOW, last_used_step=None)
    assert used == STEP
    assert verify_totp(secret, code, at=NOW, last_used_step=used) is None
    # Still refused later in its window, when it is the previous step's code.
    assert verify_totp(secret, code, at=NOW + STEP_SECONDS, last_used_step=used) is None


def test_an_older_code_is_refused_after_a_newer_one_was_used(secret: str) -> None:
    newer = current_code(secret, NOW + STEP_SECONDS)
    used = verify_totp(secret, newer, at=NOW, last_used_step=None)
    assert used == STEP + 1
    for older_step in (-1, 0):
        older = current_code(secret, NOW + older_step * STEP_SECONDS)
        assert verify_totp(secret, older, at=NOW, last_used_step=used) is None


def test_a_newer_code_is_accepted_after_an_older_one_was_used(secret: str) -> None:
    used = verify_totp(secret, current_code(secret, NOW - STEP_SECONDS), at=NOW, last_used_step=None)
    assert used == STEP - 1
    assert verify_totp(secret, current_code(secret, NOW), at=NOW, last_used_step=used) == STEP


def _digits_from(zero: int) -> Callable[[str], str]:
    return lambda code: code.translate({ord(d): chr(zero + int(d)) for d in "0123456789"})


@pytest.mark.parametrize(
    "mangle",
    [
        lambda code: "",
        lambda code: code[:5],
        lambda code: code + "0",
        lambda code: " " + code,
        lambda code: code + "\n",
        lambda code: code[:5] + "a",
        lambda code: "-" + code[1:],
        # The right code in full-width ("１２３４５６") or Arabic-Indic digits: isdigit() and int() take them.
        _digits_from(0xFF10),
        _digits_from(0x0660),
    ],
    ids=["empty", "five", "seven", "leading-space", "newline", "letter", "sign", "full-width", "arabic-digit"],
)
def test_anything_but_exactly_six_ascii_digits_is_refused(secret: str, mangle: Callable[[str], str]) -> None:
    code = current_code(secret, NOW)
    assert verify_totp(secret, mangle(code), at=NOW, last_used_step=None) is None
