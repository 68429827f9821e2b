"""JPKI verification: a signature by a My Number card's signing certificate over a server challenge (KYC-1).

Pure domain code (no FastAPI, no database, no clock of its own: the caller passes `now`).

The intended flow (the kyc API and the case state machine wire it; they live elsewhere):

1. ``POST /v1/kyc/verifications {"method": "jpki"}`` opens a case. The server calls `new_challenge()`, keeps the
   32 bytes with the case (with an expiry of a few minutes, used once) and answers 202
   ``{"verification_id", "status", "challenge"}`` (challenge in base64). No JpkiTrust configured
   (`KycSettings.jpki_trust()` is None): JPKI is not offered.
2. The customer's app signs the challenge with the card's signing key (署名用電子証明書, the signing PIN;
   RSA PKCS#1 v1.5 with SHA-256: the card computes the RSA operation over the DigestInfo of SHA-256(challenge))
   and reads the signing certificate from the card.
3. ``POST /v1/kyc/verifications/{id}/jpki-signature {"signature", "certificate", "chain"}`` (base64 each;
   ``chain`` a list, usually empty: the J-LIS signing CA issues the card's certificate directly) → the server
   takes the case's challenge (none, expired or already used: ``jpki_challenge_mismatch``, without calling
   this module), consumes it whatever the outcome (a challenge is never verified twice), calls
   `verify_signature(...)` with the configured `JpkiTrust` and the injected clock's ``now``, and on success
   records the `JpkiIdentity` (name, address, birth date, gender; the certificate's serial and issuer as
   evidence) as the verified identity with method "jpki". A `JpkiRefused` becomes a problem document with its
   ``code``: 422 for the customer's input; ``jpki_revocation_unavailable`` is the operator's stale or wrong CRL,
   not the customer's fault (503 fits it better), and should not count against the customer.

What is verified, in order: input sizes (``jpki_malformed``), parsing (``jpki_malformed``), the leaf is an
RSA ≥ 2048 end-entity key with keyUsage digitalSignature or nonRepudiation
(``jpki_not_a_signing_certificate``), a path from the leaf through the given chain to a configured anchor
(names chain, each signature checked with the issuer's key, every issuer a CA with keyCertSign, path lengths
respected, no unknown critical extension: ``jpki_untrusted_chain``), every certificate on the path valid at
``now`` (``jpki_certificate_expired``), revocation against the configured CRLs
(``jpki_certificate_revoked``; a CRL for the issuer that is not signed by it or is past its nextUpdate:
``jpki_revocation_unavailable``), the signature over the challenge (``jpki_signature_invalid``), and last the
personal data in the certificate (jpki_personal_data.py; ``jpki_not_a_signing_certificate``).

Revocation is checked only where CRLs for the issuer are configured: a deployment must configure the J-LIS
CRL (and refresh it before its nextUpdate) for revocation to be checked at all.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID

from services.kyc.jpki_personal_data import NotPersonalData, read_personal_data

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

CHALLENGE_BYTES = 32
MAX_CERTIFICATE_BYTES = 16 * 1024
MAX_CHAIN_CERTIFICATES = 4
MAX_SIGNATURE_BYTES = 1024
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096  # JPKI is 2048; a larger key only makes each check slower

# Critical extensions this module understands; any other critical extension on a path certificate refuses it
# (RFC 5280 4.2). Name and policy constraints are not processed here, so a CA that sets them critical is refused.
_UNDERSTOOD_CRITICAL = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)

# SHA-1 and MD5 signed certificates are refused: a chosen-prefix collision would forge a certificate under a real CA.
_PATH_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_ISSUER_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    dsa.DSAPublicKey,
)

REFUSAL_CODES = frozenset(
    {
        "jpki_malformed",
        "jpki_untrusted_chain",
        "jpki_certificate_expired",
        "jpki_certificate_revoked",
        "jpki_revocation_unavailable",
        "jpki_signature_invalid",
        "jpki_not_a_signing_certificate",
        "jpki_challenge_mismatch",
    }
)


@dataclass(frozen=True)
class JpkiIdentity:
    """The person the signing certificate names, as the certificate states it."""

    name: str  # 氏名, as written (a full-width space between family and given name)
    address: str  # 住所
    birth_date: date  # 生年月日
    gender: str | None  # 性別 as coded in the certificate ("1" male, "2" female), None when absent
    serial_number: str  # the signing certificate's serial, lowercase hex
    issuer: str  # RFC 4514
    not_after: datetime


class JpkiRefused(Exception):
    """A JPKI signature that does not prove an identity; `code` is one of REFUSAL_CODES."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown JPKI refusal code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class JpkiTrust:
    """The configured trust: J-LIS signing CA certificates and, optionally, their CRLs."""

    anchors: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def __post_init__(self) -> None:
        if not self.anchors:
            raise ValueError("JPKI trust needs at least one anchor certificate")
        for anchor in self.anchors:
            if not _is_ca(anchor):
                raise ValueError(f"JPKI trust anchor {anchor.subject.rfc4514_string()} is not a CA certificate")

    @classmethod
    def from_pem(cls, anchors_pem: bytes, crls_pem: bytes | None = None) -> JpkiTrust:
        anchors = tuple(x509.load_pem_x509_certificates(anchors_pem))
        crls: tuple[x509.CertificateRevocationList, ...] = ()
        if crls_pem:
            blocks = re.findall(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", crls_pem, re.DOTALL)
            if not blocks:
                raise ValueError("no PEM CRL (-----BEGIN X509 CRL-----) in the JPKI CRLs")
            crls = tuple(x509.load_pem_x509_crl(block) for block in blocks)
        return cls(anchors=anchors, crls=crls)


def new_challenge() -> bytes:
    """32 random bytes the server keeps for one case; the caller stores it, expires it and uses it once."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def verify_signature(
    *,
    challenge: bytes,
    signature: bytes,
    certificate: bytes,
    chain: Sequence[bytes],
    trust: JpkiTrust,
    now: datetime,
) -> JpkiIdentity:
    """The identity a valid JPKI signature over `challenge` proves; raises JpkiRefused otherwise.

    `certificate` and each of `chain` are DER or PEM; `now` is timezone-aware (the injected clock's).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if len(challenge) != CHALLENGE_BYTES:
        raise JpkiRefused("jpki_challenge_mismatch", "the challenge is not one the server issued")
    _check_sizes(signature=signature, certificate=certificate, chain=chain)
    leaf = _load_certificate(certificate)
    intermediates = [_load_certificate(item) for item in chain]

    public_key = _signing_key(leaf)
    path = _build_path(leaf, intermediates, trust, now)
    for cert in path:
        _check_validity(cert, now)
    _check_revocation(path, trust.crls, now)
    try:
        public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JpkiRefused(
            "jpki_signature_invalid", "the signature is not over this challenge by this certificate"
        ) from None
    return _identity(leaf)


def _check_sizes(*, signature: bytes, certificate: bytes, chain: Sequence[bytes]) -> None:
    # Before any parsing: the parsers never see more than a few certificates' worth of attacker input.
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        raise JpkiRefused("jpki_malformed", f"the signature must be 1 to {MAX_SIGNATURE_BYTES} bytes")
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise JpkiRefused("jpki_malformed", f"the chain has more than {MAX_CHAIN_CERTIFICATES} certificates")
    for item in (certificate, *chain):
        if not item or len(item) > MAX_CERTIFICATE_BYTES:
            raise JpkiRefused("jpki_malformed", f"a certificate must be 1 to {MAX_CERTIFICATE_BYTES} bytes")


def _load_certificate(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certificates = x509.load_pem_x509_certificates(data)
            if len(certificates) != 1:
                raise ValueError("one PEM certificate per item")
            cert = certificates[0]
        else:
            cert = x509.load_der_x509_certificate(data)
        # Parsed lazily: a malformed or duplicated extension or name is refused here, not deep in the walk.
        cert.extensions  # noqa: B018
        cert.subject  # noqa: B018
        cert.issuer  # noqa: B018
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as error:
        raise JpkiRefused("jpki_malformed", f"not an X.509 certificate: {error}") from None
    return cert


def _signing_key(leaf: x509.Certificate) -> rsa.RSAPublicKey:
    # The JPKI signing certificate is RSA 2048 (J-LIS profile); other key types have no JPKI use to serve.
    try:
        public_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise JpkiRefused("jpki_malformed", "the certificate's public key cannot be read") from None
    if not isinstance(public_key, rsa.RSAPublicKey) or not MIN_RSA_BITS <= public_key.key_size <= MAX_RSA_BITS:
        raise JpkiRefused(
            "jpki_not_a_signing_certificate", f"the key is not RSA of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
        )
    if _is_ca(leaf):
        raise JpkiRefused("jpki_not_a_signing_certificate", "the certificate is a CA certificate")
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise JpkiRefused("jpki_not_a_signing_certificate", "keyUsage has neither digitalSignature nor nonRepudiation")
    return public_key


def _build_path(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], trust: JpkiTrust, now: datetime
) -> list[x509.Certificate]:
    """leaf, intermediates…, anchor: the first path whose every link verifies; prefers certificates valid now."""
    _check_critical_extensions(leaf)
    anchor_fingerprints = {anchor.fingerprint(hashes.SHA256()) for anchor in trust.anchors}
    # A client may send the anchor itself in its chain: it counts only as the configured anchor, never as a link.
    links = [cert for cert in intermediates if cert.fingerprint(hashes.SHA256()) not in anchor_fingerprints]

    def extend(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        child = path[-1]
        below = len(path) - 1  # intermediates between a candidate issuer and the leaf
        if below > MAX_CHAIN_CERTIFICATES:
            return None
        for anchor in _candidates(child, trust.anchors, now):
            if _issues(anchor, child, below):
                return [*path, anchor]
        for link in _candidates(child, links, now):
            if link in path or not _issues(link, child, below):
                continue
            _check_critical_extensions(link)
            found = extend([*path, link])
            if found is not None:
                return found
        return None

    path = extend([leaf])
    if path is None:
        raise JpkiRefused("jpki_untrusted_chain", "the certificate does not chain to a configured JPKI CA")
    return path


def _candidates(child: x509.Certificate, pool: Sequence[x509.Certificate], now: datetime) -> list[x509.Certificate]:
    named = [cert for cert in pool if cert.subject == child.issuer]
    # During a J-LIS key rollover an old and a new CA share a name: try the one valid now first.
    return sorted(named, key=lambda cert: not _valid_at(cert, now))


def _issues(issuer: x509.Certificate, child: x509.Certificate, below: int) -> bool:
    if not _is_ca(issuer):
        return False
    usage = _extension(issuer, x509.KeyUsage)
    if usage is None or not usage.key_cert_sign:
        return False
    constraints = _extension(issuer, x509.BasicConstraints)
    if constraints is not None and constraints.path_length is not None and below > constraints.path_length:
        return False
    # Links come from the client: an unknown key or signature algorithm is a link that does not verify.
    try:
        hash_ok = isinstance(child.signature_hash_algorithm, _PATH_HASHES) or isinstance(
            issuer.public_key(), ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
        )
        if not hash_ok:
            return False
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_critical_extensions(cert: x509.Certificate) -> None:
    for extension in cert.extensions:
        if extension.critical and extension.oid not in _UNDERSTOOD_CRITICAL:
            raise JpkiRefused(
                "jpki_untrusted_chain",
                f"{cert.subject.rfc4514_string()} has a critical extension {extension.oid.dotted_string} "
                "this verifier does not process",
            )


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    if not _valid_at(cert, now):
        raise JpkiRefused(
            "jpki_certificate_expired",
            f"{cert.subject.rfc4514_string()} is valid from {cert.not_valid_before_utc.isoformat()} "
            f"to {cert.not_valid_after_utc.isoformat()}, not at {now.isoformat()}",
        )


def _check_revocation(
    path: list[x509.Certificate], crls: Sequence[x509.CertificateRevocationList], now: datetime
) -> None:
    for cert, issuer in pairwise(path):
        named = [crl for crl in crls if crl.issuer == cert.issuer]
        if not named:
            continue
        # A CRL by a same-named CA with another key (a rollover) is not this issuer's: only signed ones count.
        signed = [crl for crl in named if _signs_crl(issuer, crl)]
        if not signed:
            raise JpkiRefused("jpki_revocation_unavailable", "the revocation list is not signed by the issuer")
        current = [crl for crl in signed if _crl_usable(crl, now)]
        if not current:
            raise JpkiRefused(
                "jpki_revocation_unavailable", "the issuer's revocation list is out of date or not a complete list"
            )
        if any(crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None for crl in current):
            raise JpkiRefused("jpki_certificate_revoked", f"certificate {cert.serial_number:x} is revoked")


def _signs_crl(issuer: x509.Certificate, crl: x509.CertificateRevocationList) -> bool:
    usage = _extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        return False
    public_key = issuer.public_key()
    if not isinstance(public_key, _ISSUER_KEY_TYPES):
        return False
    try:
        return crl.is_signature_valid(public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _crl_usable(crl: x509.CertificateRevocationList, now: datetime) -> bool:
    next_update = crl.next_update_utc
    if next_update is None or next_update < now or crl.last_update_utc > now:
        return False
    # A critical CRL extension (issuingDistributionPoint of a partitioned CRL, deltaCRLIndicator) means the list
    # may not cover this certificate: it cannot prove it unrevoked.
    return not any(extension.critical for extension in crl.extensions)


def _identity(leaf: x509.Certificate) -> JpkiIdentity:
    try:
        facts = read_personal_data(leaf)
    except NotPersonalData as error:
        raise JpkiRefused("jpki_not_a_signing_certificate", str(error)) from None
    return JpkiIdentity(
        name=facts.name,
        address=facts.address,
        birth_date=facts.birth_date,
        gender=facts.gender,
        serial_number=f"{leaf.serial_number:x}",
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
    )


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
