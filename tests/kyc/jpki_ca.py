"""A test JPKI: root and intermediate CAs, My Number card signing certificates with the JPKI otherNames, and CRLs.

Nothing here is a J-LIS credential: every name, address and date is invented. RSA 2048 keys are slow to make, so
each is made once per test session, by label (`key("card")`); certificates and CRLs are cheap and made per test.

Typical use::

    root = root_ca()
    card = root.issue_card()
    trust = JpkiTrust.from_pem(root.pem())
    signature = card.sign(challenge)
    verify_signature(challenge=challenge, signature=signature, certificate=card.der(), chain=[], trust=trust,
                     now=NOW)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from services.kyc.jpki_personal_data import OID_ADDRESS, OID_BIRTH_DATE, OID_GENDER, OID_NAME

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2030, 1, 1, tzinfo=UTC)

NAME = "山田　太郎"  # a full-width space between family and given name, as on the card
ADDRESS = "東京都千代田区外神田１丁目２番３号"
BIRTH_DATE = "319801231"  # 昭和 (3), 1980-12-31: the JPKI "EYYYYMMDD"
GENDER = "1"


@functools.cache
def key(label: str) -> rsa.RSAPrivateKey:
    """One RSA 2048 key per label for the whole session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def utf8_string(text: str) -> bytes:
    """A DER UTF8String TLV: what a JPKI otherName's [0] EXPLICIT holds."""
    value = text.encode("utf-8")
    if len(value) < 0x80:
        return bytes([0x0C, len(value)]) + value
    if len(value) < 0x100:
        return bytes([0x0C, 0x81, len(value)]) + value
    return bytes([0x0C, 0x82]) + len(value).to_bytes(2, "big") + value


def jpki_other_names(
    *,
    name: str | None = NAME,
    address: str | None = ADDRESS,
    birth_date: str | None = BIRTH_DATE,
    gender: str | None = GENDER,
) -> list[x509.GeneralName]:
    entries = [(OID_NAME, name), (OID_BIRTH_DATE, birth_date), (OID_GENDER, gender), (OID_ADDRESS, address)]
    return [x509.OtherName(oid, utf8_string(value)) for oid, value in entries if value is not None]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho Test JPKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_extensions(
    builder: x509.CertificateBuilder, *, ca: bool, key_cert_sign: bool, path_length: int | None
) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=not ca,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=key_cert_sign,
            crl_sign=key_cert_sign,
            encipher_only=False,
            decipher_only=False,
        ),
        True,
    )


@dataclass(frozen=True)
class Card:
    """A My Number card's signing certificate and its private key."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and key; issues CAs below it, cards and CRLs."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_ca(
        self,
        common_name: str = "Test JPKI Sign Sub CA",
        *,
        key_label: str = "intermediate",
        ca: bool = True,
        key_cert_sign: bool = True,
        path_length: int | None = None,
        not_before: datetime = NOT_BEFORE,
        not_after: datetime = NOT_AFTER,
    ) -> Authority:
        private_key = key(key_label)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        builder = _ca_extensions(builder, ca=ca, key_cert_sign=key_cert_sign, path_length=path_length)
        return Authority(builder.sign(self.private_key, hashes.SHA256()), private_key)

    def issue_card(
        self,
        *,
        key_label: str = "card",
        serial_number: int | None = None,
        not_before: datetime = NOT_BEFORE,
        not_after: datetime = NOT_AFTER,
        other_names: Sequence[x509.GeneralName] | None = None,
        key_usage: x509.KeyUsage | None = None,
        extra_extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        subject_public_key: CertificatePublicKeyTypes | None = None,
    ) -> Card:
        """A signing certificate like J-LIS issues: keyUsage digitalSignature + nonRepudiation (critical), the four
        facts as subjectAltName otherNames (default: the module's NAME, ADDRESS, BIRTH_DATE, GENDER).

        `subject_public_key` puts another key in the certificate (its Card then signs with a key it does not hold).
        """
        private_key = key(key_label)
        names = jpki_other_names() if other_names is None else list(other_names)
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                        x509.NameAttribute(NameOID.LOCALITY_NAME, "Tokyo-to"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "TEST0001"),
                    ]
                )
            )
            .issuer_name(self.certificate.subject)
            .public_key(subject_public_key or private_key.public_key())
            .serial_number(x509.random_serial_number() if serial_number is None else serial_number)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                key_usage
                or x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        for extension, critical in extra_extensions:
            builder = builder.add_extension(extension, critical)
        return Card(builder.sign(self.private_key, hashes.SHA256()), private_key)

    def crl(
        self,
        *,
        revoked: Sequence[int] = (),
        last_update: datetime = NOW - timedelta(hours=6),
        next_update: datetime = NOW + timedelta(hours=18),
        signed_by: rsa.RSAPrivateKey | None = None,
    ) -> x509.CertificateRevocationList:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(last_update)
            .next_update(next_update)
        )
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(last_update).build()
            )
        return builder.sign(signed_by or self.private_key, hashes.SHA256())


def root_ca(
    common_name: str = "Test JPKI Sign CA",
    *,
    key_label: str = "root",
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    path_length: int | None = None,
) -> Authority:
    """A self-signed root, like the J-LIS signing CA certificates configured as anchors."""
    private_key = key(key_label)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    builder = _ca_extensions(builder, ca=True, key_cert_sign=True, path_length=path_length)
    return Authority(builder.sign(private_key, hashes.SHA256()), private_key)


def crls_pem(*crls: x509.CertificateRevocationList) -> bytes:
    return b"".join(crl.public_bytes(serialization.Encoding.PEM) for crl in crls)
