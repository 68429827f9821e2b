"""A person's name in kana as banks write it: the one form in which a bank's account holder and a customer's kana
are compared (kyc against the verified identity, txn against what the customer typed; KYC-4).

Banks exchange account names in the Zengin (全銀協) character set: half-width katakana
without small letters, upper-case Latin letters, digits, a space and a few symbols `( ) - . /`,
and no long vowel mark (the hyphen takes its place). So 「サトウ ショウコ」 comes back as
「ｻﾄｳ ｼﾖｳｺ」, and 「ユーコ」 as 「ﾕ-ｺ」. Sources (third-party summaries of the 全銀協 rules, read
2026-12): the character set of the 全銀協パーソナル・コンピュータ用標準通信プロトコル
(ベーシック手順) as given at https://spreadsheets.kmlog.com/ (口座名義の使用文字チェック), and a
payroll vendor's account-name guide (https://jinjer-kyuyo.zendesk.com/hc/ja/articles/900002885563:
small kana written large, no 「ー」).

Both names are reduced to one form before they are compared, so that only another name counts as a difference:
1. NFKC: half-width katakana become full-width (ｶﾞ → ガ, one letter), full-width Latin and digits half-width, the
   ideographic space a space, the half-width middle dot and prolonged mark their full-width forms.
2. hiragana become katakana (a customer or an app may type either);
3. spaces of any width and the middle dot 「・」 are dropped (banks put one space between family and given name,
   customers put a full-width one, none, or a dot between the parts of a foreign name);
4. small kana become large, as the bank writes them (ャュョッァィゥェォヮヵヶ → ヤユヨツアイウエオワカケ), and the
   old ヰヱ, absent from the half-width set, become イエ;
5. the long vowel mark and every hyphen or dash become one mark (a bank's 「-」 is a customer's 「ー」);
6. Latin letters are upper-cased (banks upper-case them).
Nothing is stripped beyond that: corporate prefixes such as 「カ)」 are a business's, and this compares a person's
name, so a holder written with one is another holder.
"""

from __future__ import annotations

import re
import unicodedata

_HIRAGANA_TO_KATAKANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}
_LARGE_KANA = str.maketrans("ァィゥェォッャュョヮヵヶヰヱ", "アイウエオツヤユヨワカケイエ")
_LONG_VOWEL = re.compile(r"[ー\-‐‑‒–—―−－﹣]")
_SEPARATORS = re.compile(r"[\s・]+")


def bank_kana(name: str) -> str:
    """`name` in the one form a bank's holder name and a customer's kana are compared in."""
    text = unicodedata.normalize("NFKC", name).translate(_HIRAGANA_TO_KATAKANA)
    text = _SEPARATORS.sub("", text).translate(_LARGE_KANA)
    return _LONG_VOWEL.sub("ー", text).upper()


def same_holder(one: str, other: str) -> bool:
    """Whether two kana names are the same name as a bank would write it (an empty name matches nothing)."""
    return bool(bank_kana(one)) and bank_kana(one) == bank_kana(other)
