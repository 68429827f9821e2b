"""The customer password policy: length, character classes and guessable content (AUTH-PW-1, AUTH-PW-2)."""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


class ViolationCode(StrEnum):
    """Stable codes, shown to clients; JFSA 2(2) note ② names the birth date, the phone number and
    commonly used passwords, and the e-mail address and login id are guessed just as easily."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_FEW_CLASSES = "too_few_classes"
    COMMON_PASSWORD = "common_password"  # noqa: S105 -- a code name, not a secret
    CONTAINS_BIRTH_DATE = "contains_birth_date"
    CONTAINS_PHONE = "contains_phone"
    CONTAINS_EMAIL = "contains_email"
    CONTAINS_LOGIN_ID = "contains_login_id"
    WHITESPACE_ONLY_OR_CONTROL = "whitespace_only_or_control"


# Separators people put inside dates and phone numbers ("1985-03-15", "090-1234-5678", "+81 90 ...");
# they are dropped before looking for the digits so that every punctuation of a number is caught.
_NUMBER_SEPARATORS = re.compile(r"[\s\-/.()+]")
_NAME_SEPARATORS = re.compile(r"[\s._\-]")
_EDGE_NOISE = string.digits + string.punctuation + string.whitespace
# The substitutions every cracking rule set tries first ("p@ssw0rd").
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "3": "e", "1": "i", "!": "i", "$": "s", "5": "s", "7": "t"})
# Control (Cc), invisible format (Cf, e.g. zero-width space) and lone surrogates (Cs) cannot be typed
# reliably on another device, and a lone surrogate cannot even be encoded for hashing.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# First day of each era, for 和暦 birth dates such as 平成7年 / H07.
_ERAS: tuple[tuple[date, str, str], ...] = (
    (date(2019, 5, 1), "令和", "r"),
    (date(1989, 1, 8), "平成", "h"),
    (date(1926, 12, 25), "昭和", "s"),
    (date(1912, 7, 30), "大正", "t"),
)
_MIN_IDENTIFIER_LENGTH = 3


@dataclass(frozen=True)
class PasswordPolicy:
    """JFSA 2(2) note ①: a minimum length and a combination of character classes.

    The four classes are lowercase, uppercase, digit and symbol; "symbol" is every other visible
    character, so kana and kanji count as symbols rather than as nothing.
    """

    min_length: int = 10
    max_length: int = 128
    min_classes: int = 3

    def __post_init__(self) -> None:
        if self.min_length < 1 or self.max_length < self.min_length:
            raise ValueError(f"invalid password lengths {self.min_length}..{self.max_length}")
        if not 1 <= self.min_classes <= 4:
            raise ValueError(f"min_classes must be between 1 and 4, not {self.min_classes}")


DEFAULT_POLICY = PasswordPolicy()


@dataclass(frozen=True)
class Violation:
    code: ViolationCode
    message: str


@functools.lru_cache(maxsize=4)
def load_common_passwords(path: Path | None = None) -> frozenset[str]:
    """The lowercase common-password list, read once per process; lines starting with '#' are comments."""
    source = COMMON_PASSWORDS_FILE if path is None else path
    with source.open(encoding="utf-8") as lines:
        return frozenset(entry for line in lines if not line.startswith("#") and (entry := line.strip().lower()))


def normalize_password(password: str) -> str:
    """NFKC, so that full-width input from a Japanese IME ("ｐａｓｓ１２３") is the same password as ASCII."""
    return unicodedata.normalize("NFKC", password)


def check_password(
    password: str,
    *,
    policy: PasswordPolicy = DEFAULT_POLICY,
    email: str | None = None,
    phone: str | None = None,
    birth_date: date | None = None,
    login_id: str | None = None,
    common: Set[str] | None = None,
) -> list[Violation]:
    """Every rule the password breaks, so the customer can fix them all at once; empty when it is acceptable.

    `common` holds lowercase entries and defaults to the shipped list.
    """
    text = normalize_password(password)
    lowered = text.lower()
    violations: list[Violation] = []

    if len(text) < policy.min_length:
        violations.append(Violation(ViolationCode.TOO_SHORT, f"Use at least {policy.min_length} characters."))
    if len(text) > policy.max_length:
        violations.append(Violation(ViolationCode.TOO_LONG, f"Use at most {policy.max_length} characters."))
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text) or (text and text.isspace()):
        violations.append(Violation(ViolationCode.WHITESPACE_ONLY_OR_CONTROL, "No control characters or only spaces."))
    if _count_classes(text) < policy.min_classes:
        violations.append(
            Violation(
                ViolationCode.TOO_FEW_CLASSES,
                f"Combine at least {policy.min_classes} of: lowercase, uppercase, digits, symbols.",
            )
        )
    if _is_common(lowered, load_common_passwords() if common is None else common):
        violations.append(Violation(ViolationCode.COMMON_PASSWORD, "This password is too common."))

    compact = _NUMBER_SEPARATORS.sub("", lowered)
    if birth_date is not None and _contains_any(lowered, compact, _birth_date_forms(birth_date)):
        violations.append(Violation(ViolationCode.CONTAINS_BIRTH_DATE, "Do not use your birth date."))
    if phone and _contains_any(lowered, compact, _phone_forms(phone)):
        violations.append(Violation(ViolationCode.CONTAINS_PHONE, "Do not use your phone number."))
    if email and _contains_email(lowered, email):
        violations.append(Violation(ViolationCode.CONTAINS_EMAIL, "Do not use your e-mail address."))
    if (
        login_id
        and len(login_id) >= _MIN_IDENTIFIER_LENGTH
        and (email is None or login_id.lower() != email.lower())
        and normalize_password(login_id).lower() in lowered
    ):
        violations.append(Violation(ViolationCode.CONTAINS_LOGIN_ID, "Do not use your login ID."))
    return violations


def _count_classes(text: str) -> int:
    lower = upper = digit = symbol = False
    for char in text:
        if char.islower():
            lower = True
        elif char.isupper():
            upper = True
        elif char.isdigit():
            digit = True
        elif not char.isspace() and unicodedata.category(char) not in _REFUSED_CATEGORIES:
            symbol = True
    return lower + upper + digit + symbol


def _is_common(lowered: str, common: Set[str]) -> bool:
    # A listed password with digits or symbols around it ("Password123!", "!!dragon2024") is just as
    # guessable: those are the first mutations a cracking rule set applies.
    candidates = {
        lowered,
        lowered.rstrip(string.punctuation),
        lowered.rstrip(_EDGE_NOISE),
        lowered.strip(_EDGE_NOISE),
    }
    candidates |= {candidate.translate(_LEET) for candidate in candidates}
    return any(candidate and candidate in common for candidate in candidates)


def _contains_any(lowered: str, compact: str, forms: Iterable[str]) -> bool:
    # Forms with separators are looked for as typed, digit-only forms with every separator removed.
    return any(form in (compact if form.isdigit() else lowered) for form in forms)


def _birth_date_forms(birth: date) -> Iterator[str]:
    yyyy, yy, mm, dd = f"{birth.year:04d}", f"{birth.year % 100:02d}", f"{birth.month:02d}", f"{birth.day:02d}"
    m, d = str(birth.month), str(birth.day)
    # YYYY-MM-DD, YYYY/MM/DD, MM/DD and DD/MM are caught through their digits once separators are removed.
    yield from (yyyy + mm + dd, yy + mm + dd, mm + dd, dd + mm, dd + mm + yyyy, mm + dd + yyyy, yyyy + m + d)
    # Unpadded as written by hand in Japan: 1985/3/5, 3/5.
    yield from (f"{yyyy}/{m}/{d}", f"{yyyy}-{m}-{d}", f"{yyyy}.{m}.{d}", f"{m}/{d}", f"{d}/{m}")
    for start, kanji, letter in _ERAS:
        if birth >= start:
            era_year = birth.year - start.year + 1
            ey = f"{era_year:02d}"
            # 平成7, 平成07, 平成元 (the first year), H070315, 070315.
            yield from (f"{kanji}{era_year}", f"{kanji}{ey}", letter + ey + mm + dd, ey + mm + dd)
            if era_year == 1:
                yield f"{kanji}元"
            return


def _phone_forms(phone: str) -> Iterator[str]:
    digits = "".join(char for char in normalize_password(phone) if char.isdigit())
    if digits.startswith("0"):
        national = digits
    elif digits.startswith("81"):
        # +81 90-1234-5678 and +81 (0)90-1234-5678 are both 090-1234-5678 at home.
        national = "0" + digits[2:].lstrip("0")
    else:
        national = ""
    if len(national) < 10:
        # Not a Japanese number (they have 10 or 11 digits with the leading 0): refused only as a whole.
        if len(digits) >= 6:
            yield digits
        return
    yield national
    yield national[1:]
    # The subscriber part, the last 8 digits ("1234-5678" of 090-1234-5678); the last 4 alone would
    # refuse far too many unrelated passwords.
    yield national[-8:]


def _contains_email(lowered: str, email: str) -> bool:
    address = normalize_password(email).strip().lower()
    if address in lowered:
        return True
    # "taro+loans@example.jp" is delivered to taro, and "taro.yamada" is as guessable as "TaroYamada" or
    # "taro_yamada": the tag and the separators add nothing to guess.
    local = address.rpartition("@")[0]
    bare = _NAME_SEPARATORS.sub("", lowered)
    for part in (local, local.partition("+")[0]):
        stripped = _NAME_SEPARATORS.sub("", part)
        if len(stripped) >= _MIN_IDENTIFIER_LENGTH and stripped in bare:
            return True
    return False
