"""The bank-kana normaliser (shared/kana.py) and the comparison of services/kyc/holder_match.py (KYC-4's name check),
unit by unit."""

from __future__ import annotations

from datetime import date

import pytest

from services.kyc.holder_match import mismatches
from shared.kana import bank_kana

BORN = date(1990, 4, 12)


@pytest.mark.parametrize(
    ("written", "declared"),
    [
        ("ｻﾄｳ ﾊﾅｺ", "サトウ ハナコ"),  # half-width, as Zengin carries it
        ("さとう　はなこ", "サトウ ハナコ"),  # hiragana, ideographic space
        ("サトウハナコ", "サトウ　ハナコ"),  # no space
        ("ｼﾞﾖｳｼﾞ ﾘﾖｳ", "ジョウジ リョウ"),  # voiced marks composed, small kana written large
        ("ｷﾂｶﾜ", "キッカワ"),  # small tsu
        ("ﾕ-ｺ", "ユーコ"),  # the bank's hyphen for the long vowel mark
        ("ﾕｰｺ", "ユ－コ"),  # half-width prolonged mark, full-width hyphen-minus
        ("ｽﾐｽ ｼﾞﾖﾝ", "スミス・ジョン"),  # middle dot between a foreign name's parts
        ("SMITH JOHN", "ｓｍｉｔｈ ｊｏｈｎ"),  # full-width Latin, upper-cased
        ("ｲｴﾓﾘ", "ヰヱモリ"),  # old kana, absent from the half-width set
    ],
)
def test_the_same_name_as_banks_and_customers_write_it(written: str, declared: str) -> None:
    assert bank_kana(written) == bank_kana(declared)
    assert (
        mismatches(verified_kana=declared, verified_birth_date=BORN, holder_kana=written, holder_birth_date=None) == []
    )


@pytest.mark.parametrize(
    ("written", "declared"),
    [
        ("ｻﾄｳ ﾊﾅｴ", "サトウ ハナコ"),
        ("ｻﾄ ﾊﾅｺ", "サトウ ハナコ"),
        ("ｻﾄﾞｳ ﾊﾅｺ", "サトウ ハナコ"),  # a voiced mark is a different letter
        ("ﾕｺ", "ユーコ"),  # a long vowel is not dropped
        ("ｶ)ｻﾄｳ ﾊﾅｺ", "サトウ ハナコ"),  # a corporate prefix: a business, not this person
        ("・ 　", "サトウ ハナコ"),  # nothing left of the name
    ],
)
def test_another_name_is_a_mismatch(written: str, declared: str) -> None:
    assert mismatches(
        verified_kana=declared, verified_birth_date=BORN, holder_kana=written, holder_birth_date=None
    ) == ["name_kana"]


def test_the_birth_date_counts_only_when_the_bank_gives_one() -> None:
    def of(birth: date | None) -> list[str]:
        return list(
            mismatches(
                verified_kana="サトウ ハナコ", verified_birth_date=BORN, holder_kana="ｻﾄｳ ﾊﾅｺ", holder_birth_date=birth
            )
        )

    assert of(None) == []
    assert of(BORN) == []
    assert of(date(1990, 4, 13)) == ["birth_date"]
