"""JPKI through the gateway: a challenge for the card to sign, the signature verified against the configured test CA,
the certificate's identity recorded, and every refusal a problem with its code that approves nothing."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.kyc import models
from shared.clock import FrozenClock
from shared.contracts.identity import DeclaredIdentity
from tests.auth.conftest import SIGNING_KEY, open_account
from tests.harness import Backend, System, in_process_system
from tests.kyc import jpki_ca
from tests.kyc.conftest import KYC, kyc_messages, kyc_rows, signed_in_again, staff_headers, start

# The test card's holder, as the customer declares themselves at account opening (typed, not as the card writes).
CARD_HOLDER = {
    "name": "山田 太郎",
    "name_kana": "ヤマダ タロウ",
    "birth_date": "1980-12-31",
    "address": "〒101-0021 東京都千代田区外神田1-2-3",
}


@pytest.fixture
def root() -> jpki_ca.Authority:
    return jpki_ca.root_ca()


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, root: jpki_ca.Authority) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": {**KYC, "jpki_trust_anchors": root.pem().decode(), "kyc_jpki_challenge_seconds": 60},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


async def card_holder(system: System, sms: SmsSink, **changes: str) -> dict[str, str]:
    await open_account(system.gateway, **{**CARD_HOLDER, **changes})
    contacts = {name: changes[name] for name in ("email", "phone") if name in changes}
    return await signed_in_again(system, sms, **contacts)


async def started_jpki(system: System, headers: dict[str, str]) -> tuple[str, bytes]:
    response = await start(system, headers, {"method": "jpki"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "checking"
    challenge = base64.b64decode(body["challenge"])
    assert len(challenge) == 32
    return body["verification_id"], challenge


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def send(
    system: System,
    headers: dict[str, str],
    verification_id: str,
    card: jpki_ca.Card,
    challenge: bytes,
    *,
    chain: list[bytes] | None = None,
    signature: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    body = {
        "signature": b64(signature if signature is not None else card.sign(challenge)),
        "certificate": b64(card.der()),
        "chain": [b64(item) for item in chain or []],
    }
    response = await system.gateway.post(
        f"/v1/kyc/verifications/{verification_id}/jpki-signature", json=body, headers=headers
    )
    return response.status_code, response.json()


async def nothing_verified(system: System) -> None:
    assert await kyc_rows(system, models.verified_identity) == []
    assert await kyc_rows(system, models.kyc_status_sync) == []


async def test_a_signature_by_a_card_of_the_trusted_ca_verifies_the_certificates_identity(
    system: System, sms: SmsSink, smtp: SmtpSink, root: jpki_ca.Authority
) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    card = root.issue_card()

    status, body = await send(system, headers, verification_id, card, challenge)
    assert status == 200, body
    assert body == {"verification_id": verification_id, "status": "approved"}
    view = await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=headers)
    assert (view.json()["method"], view.json()["status"]) == ("jpki", "approved")
    assert view.json()["jpki"]["challenge"] is None

    (identity,) = await kyc_rows(system, models.verified_identity)
    assert identity.method == "jpki"
    state = system.apps["kyc"].state.service
    assert state.cipher.open(identity.name, context="verified_identity.name") == jpki_ca.NAME  # as the card writes it
    assert state.cipher.open(identity.address, context="verified_identity.address") == jpki_ca.ADDRESS
    assert state.cipher.open(identity.birth_date, context="verified_identity.birth_date") == "1980-12-31"
    (queued,) = await kyc_rows(system, models.kyc_status_sync)
    assert (queued.status, queued.method, queued.verification_id) == ("verified", "jpki", verification_id)
    assert any(m["event_type"] == "kyc_approved" for m in await kyc_messages(system, "notify"))

    # The same signature again: the case waits for none (the challenge was used once).
    again, refused = await send(system, headers, verification_id, card, challenge)
    assert (again, refused["code"]) == (409, "not_awaiting_signature")


async def test_a_card_naming_another_identity_goes_to_staff_review(
    system: System, sms: SmsSink, root: jpki_ca.Authority
) -> None:
    headers = await card_holder(system, sms, address="〒106-0032 東京都港区六本木1-2-3")
    verification_id, challenge = await started_jpki(system, headers)
    status, body = await send(system, headers, verification_id, root.issue_card(), challenge)
    assert status == 200, body
    assert body == {"verification_id": verification_id, "status": "manual_review", "differs_from_declared": ["address"]}
    await nothing_verified(system)
    # What the certificate proved is kept for the reviewer, sealed.
    (row,) = await kyc_rows(system, models.jpki_challenge)
    state = system.apps["kyc"].state.service
    proven = DeclaredIdentity.model_validate_json(
        state.cipher.open(row.certificate_identity, context="jpki_challenge.certificate_identity")
    )
    assert proven.address == jpki_ca.ADDRESS

    # A reviewer who approves it vouches for the certificate's identity, not the declared one.
    staff = await staff_headers(system, "reviewer.jpki", "analyst")
    approved = await system.gateway.post(f"/v1/ops/kyc/verifications/{verification_id}/approve", json={}, headers=staff)
    assert (approved.status_code, approved.json()["status"]) == (200, "approved"), approved.text
    (identity,) = await kyc_rows(system, models.verified_identity)
    assert state.cipher.open(identity.address, context="verified_identity.address") == jpki_ca.ADDRESS


@pytest.mark.parametrize("case", ["another_ca", "expired", "bad_signature", "foreign_key"])
async def test_refused_signatures_answer_their_code_and_verify_nothing(
    system: System, sms: SmsSink, root: jpki_ca.Authority, case: str
) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    signature = None
    if case == "another_ca":
        card = jpki_ca.root_ca("Someone Else's CA", key_label="other-root").issue_card()
        expected = "jpki_untrusted_chain"
    elif case == "expired":
        now = system.clock.now()
        card = root.issue_card(not_before=now - timedelta(days=800), not_after=now - timedelta(days=1))
        expected = "jpki_certificate_expired"
    elif case == "bad_signature":
        card = root.issue_card()
        signature = card.sign(b"not the challenge")
        expected = "jpki_signature_invalid"
    else:  # a certificate of the trusted CA, with a signature by a key the signer does not hold in it
        card = root.issue_card(subject_public_key=jpki_ca.key("stranger").public_key())
        expected = "jpki_signature_invalid"
    status, body = await send(system, headers, verification_id, card, challenge, signature=signature)
    assert (status, body["code"]) == (422, expected), body
    assert body["status_now"] == "checking"
    assert body["attempts_left"] == 2
    assert base64.b64decode(body["challenge"]) != challenge  # the next try signs a new challenge
    await nothing_verified(system)


async def test_the_third_refusal_rejects_the_case(system: System, sms: SmsSink, root: jpki_ca.Authority) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    card = root.issue_card()
    lefts = []
    for _ in range(3):
        status, body = await send(system, headers, verification_id, card, challenge, signature=card.sign(b"x"))
        assert (status, body["code"]) == (422, "jpki_signature_invalid")
        lefts.append((body["attempts_left"], body["status_now"]))
        challenge = base64.b64decode(body["challenge"]) if body["challenge"] else challenge
    assert lefts == [(2, "checking"), (1, "checking"), (0, "rejected")]
    # Even a good signature is too late now.
    status, body = await send(system, headers, verification_id, card, challenge)
    assert (status, body["code"]) == (409, "not_awaiting_signature")
    await nothing_verified(system)


async def test_an_expired_or_replayed_challenge_is_refused(
    system: System, sms: SmsSink, root: jpki_ca.Authority
) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    card = root.issue_card()
    system.clock.advance(seconds=61)  # type: ignore[attr-defined]
    status, body = await send(system, headers, verification_id, card, challenge)
    assert (status, body["code"]) == (422, "jpki_challenge_mismatch"), body
    await nothing_verified(system)

    # The signature over the spent challenge, sent again, proves nothing: the case now waits for another.
    status, body = await send(system, headers, verification_id, card, challenge)
    assert (status, body["code"]) == (422, "jpki_signature_invalid"), body
    await nothing_verified(system)
    fresh = base64.b64decode(body["challenge"])
    status, body = await send(system, headers, verification_id, card, fresh)
    assert (status, body["status"]) == (200, "approved"), body


async def test_malformed_input_and_another_customers_case(
    system: System, sms: SmsSink, root: jpki_ca.Authority
) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    response = await system.gateway.post(
        f"/v1/kyc/verifications/{verification_id}/jpki-signature",
        json={"signature": "not base64!", "certificate": "AAAA", "chain": []},
        headers=headers,
    )
    assert (response.status_code, response.json()["code"]) == (422, "jpki_malformed")
    other = await card_holder(system, sms, email="jiro@example.jp", phone="090-8765-4321")
    status, body = await send(system, other, verification_id, root.issue_card(), challenge)
    assert (status, body["code"]) == (404, "not_found")
    await nothing_verified(system)


async def test_without_trust_anchors_jpki_is_not_offered(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> None:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as system:
        headers = await card_holder(system, sms)
        response = await start(system, headers, {"method": "jpki"})
        assert (response.status_code, response.json()["code"]) == (422, "method_not_available")
        assert await kyc_rows(system, models.verification_case) == []


async def test_a_stale_crl_is_the_operators_fault_503_and_no_try_is_used(
    backend: Backend, smtp: SmtpSink, sms: SmsSink, root: jpki_ca.Authority
) -> None:
    now = datetime.now(UTC)
    stale = root.crl(last_update=now - timedelta(days=2), next_update=now - timedelta(days=1))
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": {**KYC, "jpki_trust_anchors": root.pem().decode(), "jpki_crls": jpki_ca.crls_pem(stale).decode()},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(now)) as system:
        headers = await card_holder(system, sms)
        verification_id, challenge = await started_jpki(system, headers)
        card = root.issue_card()
        for _ in range(4):  # more than the tries a customer has: none is used
            status, body = await send(system, headers, verification_id, card, challenge)
            assert (status, body["code"]) == (503, "jpki_revocation_unavailable"), body
            assert (body["status_now"], body["attempts_left"]) == ("checking", 3)
            challenge = base64.b64decode(body["challenge"])
        await nothing_verified(system)


async def test_the_same_signature_sent_twice_at_once_verifies_once(
    system: System, sms: SmsSink, root: jpki_ca.Authority
) -> None:
    headers = await card_holder(system, sms)
    verification_id, challenge = await started_jpki(system, headers)
    card = root.issue_card()
    answers = await asyncio.gather(*(send(system, headers, verification_id, card, challenge) for _ in range(2)))
    assert sorted(status for status, _ in answers) == [200, 409], answers
    assert {body.get("code") for status, body in answers if status == 409} == {"not_awaiting_signature"}
    assert len(await kyc_rows(system, models.verified_identity)) == 1
    assert len(await kyc_rows(system, models.kyc_status_sync)) == 1
