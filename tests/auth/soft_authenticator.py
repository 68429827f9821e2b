"""A software WebAuthn authenticator for tests without a browser: it makes the credentials navigator.credentials
create() and get() would (attestation "none", ES256, user present and verified), with a counter of its own, for any
challenge and origin the test chooses, so that a forged origin, a replayed assertion or a counter going backwards
can be tried over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()


@dataclass
class SoftAuthenticator:
    rp_id: str = "localhost"
    origin: str = "http://localhost:8000"
    sign_count: int = 0
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))

    def _auth_data(self, flags: int, extra: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + extra

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> dict[str, Any]:
        """navigator.credentials.create() for these options: a new passkey's credential as JSON."""
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        auth_data = self._auth_data(UP | UV | AT, attested)
        client_data = _client_data("webauthn.create", options["challenge"], origin or self.origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._credential(client_data, attestationObject=bytes_to_base64url(attestation), transports=["internal"])

    def get(
        self, options: dict[str, Any], *, origin: str | None = None, count: int | None = None, verified: bool = True
    ) -> dict[str, Any]:
        """navigator.credentials.get() for these options: an assertion, the counter moved on by one (or set to
        `count`)."""
        self.sign_count = self.sign_count + 1 if count is None else count
        auth_data = self._auth_data(UP | (UV if verified else 0))
        client_data = _client_data("webauthn.get", options["challenge"], origin or self.origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return self._credential(
            client_data,
            authenticatorData=bytes_to_base64url(auth_data),
            signature=bytes_to_base64url(signature),
            userHandle=None,
        )

    def _credential(self, client_data: bytes, **response: Any) -> dict[str, Any]:
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "response": {"clientDataJSON": bytes_to_base64url(client_data), **response},
            "clientExtensionResults": {},
        }


def challenge_of(credential: dict[str, Any]) -> str:
    """The challenge a credential was made for (from its client data)."""
    data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    return str(data["challenge"])
