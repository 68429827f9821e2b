"""The password policy: length and classes (AUTH-PW-1), guessable content refused (AUTH-PW-2). No I/O but the list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.auth.passwords import (
    COMMON_PASSWORDS_FILE,
    DEFAULT_POLICY,
    PasswordPolicy,
    ViolationCode,
    check_password,
    load_common_passwords,
)

# One applicant, as POST /v1/accounts receives her.
EMAIL = "Hanako.Sato@example.jp"
PHONE = "+81 80-4821-7395"
BIRTH = date(1990, 4, 23)  # 平成2年4月23日
GOOD = "Kumo-Sora-47-Umi"


def codes(
    password: str,
    *,
    email: str = EMAIL,
    phone: str = PHONE,
    birth_date: date = BIRTH,
    login_id: str | None = None,
    policy: PasswordPolicy = DEFAULT_POLICY,
    common: frozenset[str] | None = None,
) -> list[str]:
    violations = check_password(
        password, policy=policy, email=email, phone=phone, birth_date=birth_date, login_id=login_id, common=common
    )
    return [violation.code for violation in violations]


@pytest.mark.req("AUTH-PW-1")
@pytest.mark.req("AUTH-PW-2")
def test_a_strong_password_unrelated_to_the_customer_is_accepted() -> None:
    assert check_password(GOOD, email=EMAIL, phone=PHONE, birth_date=BIRTH) == []
    assert codes("Tokyo#Sakura88") == []
    assert codes("Correct Horse 9 Battery") == []  # a passphrase with spaces is fine


@pytest.mark.req("AUTH-PW-1")
@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Kumo-47x", "too_short"),
        ("Kumo-Sora-47-Umi " * 8, "too_long"),  # 136 characters pasted from a password manager
        ("kumosoraumiyama", "too_few_classes"),
        ("kumosora4711", "too_few_classes"),
        ("Kumo\tSora-47-Umi", "whitespace_only_or_control"),
        ("Kumo\u200bSora-47-Umi", "whitespace_only_or_control"),  # zero-width space pasted from a page
    ],
)
def test_each_complexity_rule_is_enforced_alone(password: str, code: str) -> None:
    assert codes(password) == [code]


@pytest.mark.req("AUTH-PW-1")
def test_only_spaces_are_refused() -> None:
    assert "whitespace_only_or_control" in codes(" " * 12)
    assert "whitespace_only_or_control" in codes("\u3000" * 12)  # ideographic spaces from a Japanese IME


@pytest.mark.req("AUTH-PW-1")
def test_the_length_limits_are_inclusive() -> None:
    assert codes("Kumo-Sora4") == []  # exactly 10
    assert codes("Kumo-Sora4" * 12 + "Kumo-Sor") == []  # exactly 128
    assert codes("Kumo-Sora4" * 12 + "Kumo-Sora") == ["too_long"]  # 129


@pytest.mark.req("AUTH-PW-1")
def test_the_number_of_classes_is_configurable() -> None:
    password = "kumo-sora-47-umi"  # lowercase, digits, symbols: 3 classes
    assert codes(password) == []
    assert codes(password, policy=PasswordPolicy(min_classes=4)) == ["too_few_classes"]
    assert codes("kumosora4711", policy=PasswordPolicy(min_classes=2)) == []
    assert codes("Kumo-47x", policy=PasswordPolicy(min_length=8)) == []


def test_an_impossible_policy_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="min_classes"):
        PasswordPolicy(min_classes=5)
    with pytest.raises(ValueError, match="lengths"):
        PasswordPolicy(min_length=20, max_length=10)


@pytest.mark.req("AUTH-PW-1")
@pytest.mark.req("AUTH-PW-2")
def test_every_violation_is_listed_at_once() -> None:
    # Short, two classes, a tab, a listed word and the birth date's MMDD.
    assert set(codes("love0423\t")) == {
        "too_short",
        "too_few_classes",
        "whitespace_only_or_control",
        "common_password",
        "contains_birth_date",
    }
    assert set(codes("hanako.sato80482173950804821739508048217395" * 3)) == {
        "too_long",
        "contains_email",
        "contains_phone",
    }


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize(
    "password",
    [
        "password",
        "Password123!",
        "PASSWORD",
        "P@ssw0rd",
        "P@ssw0rd2024!",
        "Dragon2024",
        "!!Monkey99",
        "qwerty!!",
        "iloveyou",
        "Winter2024!!",
        "Ｐａｓｓｗｏｒｄ１２３！",  # full-width, as a Japanese IME types it
    ],
)
def test_common_passwords_are_refused_with_their_usual_suffixes(password: str) -> None:
    assert "common_password" in codes(password)


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize(
    "form",
    [
        "19900423",  # YYYYMMDD
        "900423",  # YYMMDD
        "0423",  # MMDD
        "2304",  # DDMM
        "23041990",  # DDMMYYYY
        "1990-04-23",
        "1990/04/23",
        "1990.04.23",
        "04/23",  # MM/DD
        "23/04",  # DD/MM
        "1990/4/23",  # unpadded, as written by hand
        "4/23",
        "H020423",  # 和暦: 平成02年04月23日
        "平成2",
        "平成02",
        "１９９００４２３",  # full-width digits
    ],
)
def test_the_birth_date_is_refused_in_every_usual_form(form: str) -> None:
    assert codes(f"Kaze!{form}xq") == ["contains_birth_date"]


@pytest.mark.req("AUTH-PW-2")
def test_birth_dates_in_other_eras_are_recognised() -> None:
    showa = date(1975, 11, 3)  # 昭和50年11月3日
    assert codes("Kaze!S501103xq", birth_date=showa) == ["contains_birth_date"]
    assert codes("Kaze!昭和50xq", birth_date=showa) == ["contains_birth_date"]
    first_year = date(1989, 6, 1)  # 平成元年
    assert codes("Kaze!平成元xq", birth_date=first_year) == ["contains_birth_date"]


@pytest.mark.req("AUTH-PW-2")
def test_another_date_or_the_birth_year_alone_is_not_the_birth_date() -> None:
    assert codes("Kaze!0424xq") == []
    assert codes("Kaze!1990xq") == []


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize(
    "form",
    [
        "08048217395",  # national number
        "080-4821-7395",
        "080 4821 7395",
        "(080)4821-7395",
        "+818048217395",
        "+81-80-4821-7395",
        "8048217395",  # without the leading 0
        "48217395",  # the subscriber part
        "4821-7395",
        "０８０４８２１７３９５",  # full-width digits
    ],
)
def test_the_phone_number_is_refused_in_every_usual_form(form: str) -> None:
    assert codes(f"Kaze!{form}xq") == ["contains_phone"]


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize("stored", ["+81 80-4821-7395", "+818048217395", "080-4821-7395", "+81 (0)80 4821 7395"])
def test_the_phone_number_is_recognised_however_it_was_stored(stored: str) -> None:
    assert codes("Kaze!08048217395xq", phone=stored) == ["contains_phone"]
    assert codes("Kaze!48217395xq", phone=stored) == ["contains_phone"]


@pytest.mark.req("AUTH-PW-2")
def test_a_landline_is_refused_as_well() -> None:
    assert codes("Kaze!0312345678xq", phone="03-1234-5678") == ["contains_phone"]
    assert codes("Kaze!12345678xq", phone="+81 3-1234-5678") == ["contains_phone"]


@pytest.mark.req("AUTH-PW-2")
def test_the_last_four_digits_alone_are_allowed() -> None:
    # Refusing every password holding the same four digits as the phone would refuse far too much.
    assert codes("Kaze!7395xq") == []


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize(
    "password",
    [
        "hanako.sato@example.jp",
        "HANAKO.SATO@EXAMPLE.JP1",
        "Hanako.Sato#77",
        "47!hanako.SATO",
    ],
)
def test_the_email_and_its_local_part_are_refused(password: str) -> None:
    assert "contains_email" in codes(password)


@pytest.mark.req("AUTH-PW-2")
def test_the_local_part_without_its_plus_tag_is_refused() -> None:
    assert "contains_email" in codes("Tanaka-Jiro!88", email="tanaka.jiro+loans@example.jp")
    assert "contains_email" in codes("Hidden#1-tanaka.jiro", email="tanaka.jiro+loans@example.jp")


@pytest.mark.req("AUTH-PW-2")
@pytest.mark.parametrize("password", ["HanakoSato!77", "hanako_sato#77", "Hanako Sato 77!", "77-HANAKO-SATO"])
def test_the_local_part_is_refused_whatever_separates_its_words(password: str) -> None:
    assert "contains_email" in codes(password)


@pytest.mark.req("AUTH-PW-2")
def test_a_local_part_shorter_than_three_characters_is_not_searched() -> None:
    assert codes("Kaze!ab-99xq", email="ab@example.jp") == []


@pytest.mark.req("AUTH-PW-2")
def test_the_login_id_is_refused_when_it_is_not_the_email() -> None:
    assert codes("Kaze!hsato77xq", login_id="hsato77") == ["contains_login_id"]
    assert codes("Hanako.Sato#77", login_id=EMAIL.lower()) == ["contains_email"]


def test_no_message_repeats_the_password_or_the_customer_data() -> None:
    # API.md: no response ever contains a password; the messages go back to the client as they are.
    password = "hanako.sato19900423"
    for violation in check_password(password, email=EMAIL, phone=PHONE, birth_date=BIRTH):
        assert isinstance(violation.code, ViolationCode)
        for secret in (password, "hanako", "1990", "0423", "7395"):
            assert secret not in violation.message.lower()


@pytest.mark.req("AUTH-PW-2")
def test_the_shipped_list_holds_10000_lowercase_passwords_most_common_first() -> None:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# source: zxcvbn==")
    entries = [line for line in lines if not line.startswith("#")]
    assert entries[:3] == ["123456", "password", "12345678"]
    assert len(entries) == len(set(entries)) == 10_000
    assert all(entry == entry.lower().strip() and entry for entry in entries)
    assert load_common_passwords() == frozenset(entries)


def test_the_list_is_read_once_per_process() -> None:
    assert load_common_passwords() is load_common_passwords()


def test_another_list_skips_comments_and_folds_case(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("# our own leaked passwords\nSakura2024\n\nnanako\n", encoding="utf-8")
    common = load_common_passwords(path)
    assert common == frozenset({"sakura2024", "nanako"})
    assert codes("Sakura2024!", common=common) == ["common_password"]
    assert codes("Password123!", common=common) == []
