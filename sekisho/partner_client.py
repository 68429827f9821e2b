"""A partner ATM network's signer, written from API.md and RFC 9421 alone (it shares no code with the gateway's
verifier): the reference for partners, and what the tests and benchmarks sign with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

COMPONENTS = ("@method", "@target-uri", "content-digest")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key from what `sekisho partner create` printed: base64url of 32 bytes."""
    return base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def sign(
    method: str,
    url: str,
    body: bytes,
    *,
    key_id: str,
    secret: str,
    created: int,
    nonce: str | None = None,
    label: str = "atm",
    components: tuple[str, ...] = COMPONENTS,
) -> dict[str, str]:
    """The headers a partner adds: Content-Digest (when there is a body), Signature-Input and Signature."""
    headers: dict[str, str] = {}
    if body:
        headers["Content-Digest"] = content_digest(body)
    else:
        components = tuple(component for component in components if component != "content-digest")
    nonce = nonce or secrets.token_urlsafe(16)
    values = {"@method": method.upper(), "@target-uri": url, "@authority": urlsplit(url).netloc}
    values.update({name.lower(): value for name, value in headers.items()})
    params = "(" + " ".join(f'"{c}"' for c in components) + ")"
    params += f';created={created};keyid="{key_id}";alg="hmac-sha256";nonce="{nonce}"'
    lines = [f'"{component}": {values[component]}' for component in components]
    base = "\n".join([*lines, f'"@signature-params": {params}'])
    digest = hmac.new(secret_bytes(secret), base.encode(), hashlib.sha256).digest()
    headers["Signature-Input"] = f"{label}={params}"
    headers["Signature"] = f"{label}=:{base64.b64encode(digest).decode()}:"
    return headers
