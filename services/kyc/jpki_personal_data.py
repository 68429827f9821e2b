"""The four basic facts (基本4情報: name, birth date, gender, address) a JPKI signing certificate carries.

The signing certificate (署名用電子証明書) carries them as subjectAltName otherNames under the JPKI personal-data
arc (jpki-personalData, 1.2.392.200149.8.5.5), each value a [0] EXPLICIT UTF8String (cryptography's
``OtherName.value`` is the inner UTF8String TLV). Sources: J-LIS "公的個人認証サービス 証明書プロファイル"
(https://www.j-lis.go.jp/file/13_profile_genkou.pdf, "公的個人認証サービスにおけるオブジェクト識別子の体系"), as
named in kjur/jsrsasign-oid-jpki (lib/index.js, and its README's dump of a signing certificate's subjectAltName:
commonName '山田　太郎', dateOfBirth '319801231', gender '1', address '東京都千代田区…'). The authentication
certificate (利用者証明用) carries none of them, which is how it is told apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

OID_NAME = ObjectIdentifier("1.2.392.200149.8.5.5.1")
# .2 and .6 are the substitute-character (代替文字) forms of the name and address, for characters outside the
# card's character set: not read; a name with such characters reaches the case as the card writes it.
OID_GENDER = ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = ObjectIdentifier("1.2.392.200149.8.5.5.4")
OID_ADDRESS = ObjectIdentifier("1.2.392.200149.8.5.5.5")

# The birth date is "EYYYYMMDD": an era code (1 明治 … 4 平成, 5 令和) then the Gregorian date (J-LIS profile; the
# dump's '319801231' is 昭和, 1980-12-31). Only the Gregorian part is read. An unknown month or day (00,
# 生年月日不詳) is not a date: it fails closed rather than guess. ASCII digits only (no full-width ones).
_BIRTH_DATE = re.compile(r"[1-9]([0-9]{4})([0-9]{2})([0-9]{2})")
_UTF8_STRING_TAG = 0x0C
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class NotPersonalData(Exception):
    """The certificate does not carry the JPKI personal data in the expected form."""


@dataclass(frozen=True)
class PersonalData:
    name: str
    address: str
    birth_date: date
    gender: str | None


def read_personal_data(certificate: x509.Certificate) -> PersonalData:
    """Name, address and birth date (each exactly once) and gender (at most once) from the JPKI otherNames."""
    values: dict[ObjectIdentifier, list[bytes]] = {}
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise NotPersonalData("the certificate has no subjectAltName: not a JPKI signing certificate") from None
    for other in san.get_values_for_type(x509.OtherName):
        values.setdefault(other.type_id, []).append(other.value)
    return PersonalData(
        name=_text(values, OID_NAME, "name"),
        address=_text(values, OID_ADDRESS, "address"),
        birth_date=_birth_date(_text(values, OID_BIRTH_DATE, "birth date")),
        gender=_text(values, OID_GENDER, "gender") if OID_GENDER in values else None,
    )


def _text(values: dict[ObjectIdentifier, list[bytes]], oid: ObjectIdentifier, what: str) -> str:
    found = values.get(oid, [])
    if len(found) != 1:
        raise NotPersonalData(
            f"the certificate carries {len(found)} {what} entries (JPKI {oid.dotted_string}), not one"
        )
    text = utf8_string(found[0])
    if text is None or not text.strip() or _CONTROL_CHARACTERS.search(text):
        raise NotPersonalData(f"the {what} entry is not a UTF8String of text")
    return text


def utf8_string(der: bytes) -> str | None:
    """The text of one DER UTF8String TLV filling `der` exactly, or None."""
    if len(der) < 2 or der[0] != _UTF8_STRING_TAG:
        return None
    first = der[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        # Minimal DER only: long form for lengths ≥ 128, no leading zero octet, at most two length octets (the
        # whole certificate is at most 16 KiB).
        if count not in (1, 2) or len(der) < 2 + count or der[2] == 0:
            return None
        length, start = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
        if length < 0x80:
            return None
    if start + length != len(der):
        return None
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _birth_date(text: str) -> date:
    match = _BIRTH_DATE.fullmatch(text)
    if match is None:
        raise NotPersonalData("the birth date is not an era code followed by YYYYMMDD")
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise NotPersonalData("the birth date is incomplete or not a date") from None
