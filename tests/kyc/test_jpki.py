"""JPKI verification (services/kyc/jpki.py): domain tests against a test CA, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification
from pydantic import ValidationError

from services.kyc.jpki import (
    CHALLENGE_BYTES,
    MAX_CERTIFICATE_BYTES,
    MAX_CHAIN_CERTIFICATES,
    MAX_SIGNATURE_BYTES,
    JpkiIdentity,
    JpkiRefused,
    JpkiTrust,
    new_challenge,
    verify_signature,
)
from services.kyc.jpki_settings import JpkiSettings
from services.kyc.settings import KycSettings
from tests.kyc.jpki_ca import (
    ADDRESS,
    NAME,
    NOT_AFTER,
    NOT_BEFORE,
    NOW,
    Authority,
    Card,
    crls_pem,
    jpki_other_names,
    root_ca,
)

CHALLENGE = bytes(range(CHALLENGE_BYTES))


def verify(
    card: Card,
    trust: JpkiTrust,
    *,
    chain: Sequence[bytes] = (),
    challenge: bytes = CHALLENGE,
    signature: bytes | None = None,
    certificate: bytes | None = None,
    now: datetime = NOW,
) -> JpkiIdentity:
    return verify_signature(
        challenge=challenge,
        signature=card.sign(challenge) if signature is None else signature,
        certificate=card.der() if certificate is None else certificate,
        chain=chain,
        trust=trust,
        now=now,
    )


def refused(code: str, card: Card, trust: JpkiTrust, **kwargs: object) -> JpkiRefused:
    with pytest.raises(JpkiRefused) as caught:
        verify(card, trust, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.detail
    return caught.value


def trust_of(*anchors: Authority, crls: Sequence[x509.CertificateRevocationList] = ()) -> JpkiTrust:
    return JpkiTrust.from_pem(b"".join(anchor.pem() for anchor in anchors), crls_pem(*crls) if crls else None)


def test_a_signature_by_a_card_of_the_configured_ca_yields_the_identity_on_the_certificate() -> None:
    root = root_ca()
    card = root.issue_card(serial_number=0x1A2B3C)

    identity = verify(card, trust_of(root))

    assert identity.name == NAME == "山田　太郎"
    assert identity.address == ADDRESS
    assert identity.birth_date == date(1980, 12, 31)
    assert identity.gender == "1"
    assert identity.serial_number == "1a2b3c"
    assert identity.issuer == root.certificate.subject.rfc4514_string()
    assert identity.not_after == NOT_AFTER


def test_a_card_issued_through_an_intermediate_verifies_with_the_chain_in_der_or_pem() -> None:
    root = root_ca()
    sub = root.issue_ca()
    card = sub.issue_card()
    trust = trust_of(root)

    assert verify(card, trust, chain=[sub.der()]).name == NAME
    assert verify(card, trust, chain=[sub.pem()], certificate=card.pem()).name == NAME
    # The client may send the anchor too; it is recognised, not used as a link.
    assert verify(card, trust, chain=[sub.pem(), root.der()]).name == NAME


def test_without_the_intermediate_the_chain_does_not_reach_the_anchor() -> None:
    root = root_ca()
    card = root.issue_ca().issue_card()
    refused("jpki_untrusted_chain", card, trust_of(root))


def test_a_card_of_another_ca_is_untrusted_even_when_that_ca_takes_the_anchor_s_name() -> None:
    root = root_ca()
    impostor = root_ca(key_label="impostor")  # same subject name, another key
    card = impostor.issue_card()

    refused("jpki_untrusted_chain", card, trust_of(root))
    refused("jpki_untrusted_chain", card, trust_of(root), chain=[impostor.der()])
    refused("jpki_untrusted_chain", root_ca("Another CA", key_label="other").issue_card(), trust_of(root))


def test_an_intermediate_that_is_not_a_ca_cannot_issue_cards() -> None:
    root = root_ca()
    not_ca = root.issue_ca(ca=False, key_cert_sign=False)
    no_cert_sign = root.issue_ca(key_cert_sign=False)

    refused("jpki_untrusted_chain", not_ca.issue_card(), trust_of(root), chain=[not_ca.der()])
    refused("jpki_untrusted_chain", no_cert_sign.issue_card(), trust_of(root), chain=[no_cert_sign.der()])


def test_a_path_longer_than_the_anchor_s_path_length_is_untrusted() -> None:
    root = root_ca(path_length=0)
    sub = root.issue_ca()
    refused("jpki_untrusted_chain", sub.issue_card(), trust_of(root), chain=[sub.der()])


def test_a_card_signed_with_sha1_by_the_right_ca_is_untrusted() -> None:
    # cryptography no longer signs certificates with SHA-1: re-sign a SHA-256 one by hand. The two algorithm
    # identifiers (sha256WithRSAEncryption, sha1WithRSAEncryption) differ in their last byte only.
    root = root_ca()
    card = root.issue_card()
    sha256_rsa, sha1_rsa = bytes.fromhex("2a864886f70d01010b"), bytes.fromhex("2a864886f70d010105")
    tbs = card.certificate.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = root.private_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point of the test
    der = card.der().replace(card.certificate.tbs_certificate_bytes, tbs).replace(sha256_rsa, sha1_rsa)
    der = der.replace(card.certificate.signature, signature)
    assert isinstance(x509.load_der_x509_certificate(der).signature_hash_algorithm, hashes.SHA1)
    root.private_key.public_key().verify(signature, tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - good

    refused("jpki_untrusted_chain", card, trust_of(root), certificate=der)


def test_an_unknown_critical_extension_is_refused() -> None:
    root = root_ca()
    card = root.issue_card(
        extra_extensions=[(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True)]
    )
    refused("jpki_untrusted_chain", card, trust_of(root))


@pytest.mark.parametrize(
    ("not_before", "not_after", "now"),
    [
        (NOT_BEFORE, NOW - timedelta(seconds=1), NOW),  # expired
        (NOW + timedelta(days=1), NOT_AFTER, NOW),  # not yet valid
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_card_outside_its_validity_is_refused(not_before: datetime, not_after: datetime, now: datetime) -> None:
    root = root_ca()
    card = root.issue_card(not_before=not_before, not_after=not_after)
    refused("jpki_certificate_expired", card, trust_of(root), now=now)


def test_an_expired_intermediate_or_anchor_is_refused_as_expired() -> None:
    root = root_ca()
    sub = root.issue_ca(not_after=NOW - timedelta(days=1))
    refused("jpki_certificate_expired", sub.issue_card(), trust_of(root), chain=[sub.der()])

    old_root = root_ca(not_after=NOW - timedelta(days=1))
    refused("jpki_certificate_expired", old_root.issue_card(), trust_of(old_root))


def test_during_a_rollover_the_anchor_valid_now_is_the_one_used() -> None:
    # J-LIS re-issues its CA certificates; an expired and a current one with the same name and key may both be
    # configured. The expired one must not make every card look expired.
    expired = root_ca(not_after=NOW - timedelta(days=1))
    current = root_ca()
    card = current.issue_card()
    assert verify(card, trust_of(expired, current)).name == NAME


def test_a_card_on_the_issuer_s_crl_is_revoked_and_others_are_not() -> None:
    root = root_ca()
    card = root.issue_card(serial_number=4242)
    crl = root.crl(revoked=[4242])

    refused("jpki_certificate_revoked", card, trust_of(root, crls=[crl]))
    assert verify(root.issue_card(serial_number=4243), trust_of(root, crls=[crl])).name == NAME


def test_a_revoked_intermediate_revokes_its_cards() -> None:
    root = root_ca()
    sub = root.issue_ca()
    crl = root.crl(revoked=[sub.certificate.serial_number])
    refused("jpki_certificate_revoked", sub.issue_card(), trust_of(root, crls=[crl]), chain=[sub.der()])


def test_a_crl_not_signed_by_the_issuer_is_refused_not_trusted() -> None:
    root = root_ca()
    card = root.issue_card()
    forged = root.crl(signed_by=root_ca(key_label="impostor").private_key)  # lists nothing: would clear the card
    refused("jpki_revocation_unavailable", card, trust_of(root, crls=[forged]))


def test_a_stale_crl_is_a_failure_to_check_not_a_pass() -> None:
    root = root_ca()
    card = root.issue_card()
    stale = root.crl(last_update=NOW - timedelta(days=2), next_update=NOW - timedelta(seconds=1))
    refused("jpki_revocation_unavailable", card, trust_of(root, crls=[stale]))
    # A current CRL next to the stale one is enough.
    assert verify(card, trust_of(root, crls=[stale, root.crl()])).name == NAME


def test_a_signature_over_another_challenge_or_by_another_key_is_invalid() -> None:
    root = root_ca()
    card = root.issue_card()
    other = root.issue_card(key_label="another-card")
    trust = trust_of(root)

    refused("jpki_signature_invalid", card, trust, signature=card.sign(new_challenge()))
    refused("jpki_signature_invalid", card, trust, signature=other.sign(CHALLENGE))
    refused("jpki_signature_invalid", card, trust, signature=b"\x00" * 256)
    pss = card.private_key.sign(
        CHALLENGE, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256()
    )
    refused("jpki_signature_invalid", card, trust, signature=pss)


def test_a_challenge_that_is_not_a_server_challenge_is_refused() -> None:
    root = root_ca()
    refused("jpki_challenge_mismatch", root.issue_card(), trust_of(root), challenge=b"")
    refused("jpki_challenge_mismatch", root.issue_card(), trust_of(root), challenge=b"x" * 31)


@pytest.mark.parametrize(
    "other_names",
    [
        [],
        jpki_other_names(name=None),
        jpki_other_names(address=None),
        jpki_other_names(birth_date=None),
        jpki_other_names(birth_date="19801231"),  # no era code
        jpki_other_names(birth_date="319800000"),  # 生年月日不詳: not a date
        jpki_other_names(birth_date="319801332"),
        jpki_other_names(birth_date="３19801231"),  # a full-width digit is not a digit here
        jpki_other_names(name=" "),
        jpki_other_names(name="山田\x00太郎"),
        [*jpki_other_names(), *jpki_other_names(gender=None, address=None, birth_date=None)],  # two names
    ],
    ids=[
        "no-san",
        "no-name",
        "no-address",
        "no-birth-date",
        "no-era",
        "unknown-birth-date",
        "impossible-date",
        "full-width-digit",
        "blank-name",
        "control-character",
        "two-names",
    ],
)
def test_a_certificate_without_the_jpki_personal_data_is_not_a_signing_certificate(
    other_names: list[x509.GeneralName],
) -> None:
    root = root_ca()
    refused("jpki_not_a_signing_certificate", root.issue_card(other_names=other_names), trust_of(root))


def test_a_personal_data_value_that_is_not_a_utf8string_is_refused() -> None:
    root = root_ca()
    oid = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
    printable = [x509.OtherName(oid, b"\x13\x03abc"), *jpki_other_names(name=None)]
    bad_utf8 = [x509.OtherName(oid, b"\x0c\x02\xff\xfe"), *jpki_other_names(name=None)]
    for names in (printable, bad_utf8):
        refused("jpki_not_a_signing_certificate", root.issue_card(other_names=names), trust_of(root))


def test_a_long_address_in_long_form_der_round_trips() -> None:
    root = root_ca()
    address = "北海道札幌市中央区" + "１丁目" * 60  # over 255 bytes of UTF-8: two length octets
    identity = verify(root.issue_card(other_names=jpki_other_names(address=address, gender=None)), trust_of(root))
    assert identity.address == address
    assert identity.gender is None


def test_a_ca_certificate_or_a_key_without_signing_usage_is_not_a_signing_certificate() -> None:
    root = root_ca()
    encipher_only = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    refused("jpki_not_a_signing_certificate", root.issue_card(key_usage=encipher_only), trust_of(root))
    sub = root.issue_ca()
    as_card = Card(sub.certificate, sub.private_key)
    refused("jpki_not_a_signing_certificate", as_card, trust_of(root))


def test_a_key_that_is_not_rsa_2048_to_4096_is_not_a_signing_certificate() -> None:
    root = root_ca()
    trust = trust_of(root)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - the point
    elliptic = ec.generate_private_key(ec.SECP256R1()).public_key()
    for public_key in (small, elliptic):
        refused("jpki_not_a_signing_certificate", root.issue_card(subject_public_key=public_key), trust)


@pytest.mark.parametrize(
    "certificate",
    [
        b"",
        b"garbage",
        b"\x30\x82\x01\x00" + b"\x00" * 256,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ],
    ids=["empty", "garbage", "truncated-der", "bad-pem"],
)
def test_garbage_in_place_of_a_certificate_is_malformed(certificate: bytes) -> None:
    root = root_ca()
    refused("jpki_malformed", root.issue_card(), trust_of(root), certificate=certificate)
    refused("jpki_malformed", root.issue_card(), trust_of(root), chain=[certificate])


def test_two_pem_certificates_in_one_item_are_malformed() -> None:
    root = root_ca()
    card = root.issue_card()
    refused("jpki_malformed", card, trust_of(root), certificate=card.pem() + root.pem())


def test_oversize_inputs_are_refused_before_parsing() -> None:
    root = root_ca()
    card = root.issue_card()
    trust = trust_of(root)
    # A valid certificate followed by padding: refused for its size, so the parser never sees it.
    refused("jpki_malformed", card, trust, certificate=card.der() + b"\x00" * MAX_CERTIFICATE_BYTES)
    refused("jpki_malformed", card, trust, chain=[root.der()] * (MAX_CHAIN_CERTIFICATES + 1))
    refused("jpki_malformed", card, trust, signature=b"\x01" * (MAX_SIGNATURE_BYTES + 1))
    refused("jpki_malformed", card, trust, signature=b"")


def test_new_challenges_are_32_fresh_bytes() -> None:
    challenges = {new_challenge() for _ in range(100)}
    assert len(challenges) == 100
    assert all(len(challenge) == CHALLENGE_BYTES for challenge in challenges)


def test_trust_needs_ca_anchors_and_reads_several_crls() -> None:
    root = root_ca()
    with pytest.raises(ValueError, match="anchor"):
        JpkiTrust(anchors=())
    with pytest.raises(ValueError, match="not a CA"):
        JpkiTrust.from_pem(root.issue_card().pem())
    with pytest.raises(ValueError, match="CRL"):
        JpkiTrust.from_pem(root.pem(), b"not a crl")
    trust = JpkiTrust.from_pem(root.pem(), crls_pem(root.crl(), root.crl(revoked=[1])))
    assert len(trust.crls) == 2
    assert trust.anchors == (root.certificate,)


def test_settings_parse_the_trust_at_start_up_and_leave_jpki_off_when_unset() -> None:
    root = root_ca()
    crl = root.crl(revoked=[7])
    settings = JpkiSettings(jpki_trust_anchors=root.pem().decode(), jpki_crls=crls_pem(crl).decode())
    trust = settings.jpki_trust()
    assert trust is not None
    assert trust.anchors == (root.certificate,)
    assert trust.crls == (crl,)

    assert JpkiSettings(jpki_trust_anchors="  ").jpki_trust() is None
    with pytest.raises(ValidationError):
        JpkiSettings(jpki_trust_anchors="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValidationError):
        JpkiSettings(jpki_crls=crls_pem(crl).decode())


def test_the_kyc_service_reads_the_jpki_trust_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_ca()
    monkeypatch.setenv("SEKISHO_JPKI_TRUST_ANCHORS", root.pem().decode())
    monkeypatch.setenv("SEKISHO_JPKI_CRLS", crls_pem(root.crl()).decode())
    trust = KycSettings().jpki_trust()
    assert trust is not None
    assert trust.anchors == (root.certificate,)
    assert len(trust.crls) == 1


def _accepted_by_cryptography(card: Card, chain: Sequence[Authority], anchors: Sequence[Authority]) -> bool:
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store([anchor.certificate for anchor in anchors]))
        .time(NOW)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        builder.build_client_verifier().verify(card.certificate, [link.certificate for link in chain])
    except verification.VerificationError:
        return False
    return True


def test_the_chain_walk_agrees_with_cryptography_s_own_path_validation() -> None:
    # A second opinion on the test CA: cryptography's verifier (web-PKI CA rules, any end-entity) accepts and
    # refuses the same paths as the JPKI walk, so the walk's verdicts are not artefacts of a quirky test CA.
    root = root_ca()
    sub = root.issue_ca()
    not_ca = root.issue_ca(ca=False, key_cert_sign=False)
    short = root_ca(path_length=0)
    short_sub = short.issue_ca()
    impostor = root_ca(key_label="impostor")
    expired_sub = root.issue_ca(not_after=NOW - timedelta(days=1))
    cases: list[tuple[Card, list[Authority], Authority, bool]] = [
        (root.issue_card(), [], root, True),
        (sub.issue_card(), [sub], root, True),
        (sub.issue_card(), [], root, False),
        (not_ca.issue_card(), [not_ca], root, False),
        (short_sub.issue_card(), [short_sub], short, False),
        (impostor.issue_card(), [impostor], root, False),
        (expired_sub.issue_card(), [expired_sub], root, False),
    ]
    for card, chain, anchor, expected in cases:
        assert _accepted_by_cryptography(card, chain, [anchor]) is expected
        try:
            verify(card, trust_of(anchor), chain=[link.der() for link in chain])
        except JpkiRefused:
            accepted = False
        else:
            accepted = True
        assert accepted is expected
