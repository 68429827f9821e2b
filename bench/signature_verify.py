"""The gateway's RFC 9421 verifier (services/gateway/signatures.py) against the `http-message-signatures` package.

One partner request as sekisho/partner_client.py signs it (POST with a JSON body; @method, @target-uri and
content-digest covered; created, keyid, alg, nonce), verified in this process, CPU per verify:
- ours: parse, the gateway's policy, Content-Digest, the signature base, HMAC-SHA256;
- the library alone: HTTPMessageVerifier.verify with the components required and the body's digest checked;
- the library as the gateway would use it: its verify, plus our parse and policy before it, which it cannot
  replace (the keyid is needed before the verify to read the key from the database, the window runs on the
  gateway's clock, and each refusal names its `reason`).
No key or nonce is read from a database: that cost is the same either way.
"""

from __future__ import annotations

import base64
import hmac
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms

from sekisho import partner_client
from services.gateway import signatures

ROUNDS = 5
VERIFIES = 5000
WARMUP = 500
WINDOW_SECONDS = 300
SECRET = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
URL = "https://api.example.jp/v1/partner/atm/withdrawals/authorize"
BODY = json.dumps(
    {"card_token": "tok_" + "x" * 24, "amount_yen": 30000, "atm_id": "atm-0001", "at": "2026-12-01T00:00:00Z"}
).encode()


class _Headers:
    """The field lines in order, as the library's resolver reads them (items(), names, membership)."""

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self._pairs = pairs

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key == name.lower() for key, _ in self._pairs)


@dataclass
class _Request:
    method: str
    url: str
    headers: _Headers


class _OneKey(HTTPSignatureKeyResolver):  # type: ignore[misc]
    def __init__(self, key: bytes) -> None:
        self._key = key

    def resolve_public_key(self, key_id: str) -> bytes:
        return self._key

    def resolve_private_key(self, key_id: str) -> bytes:
        return self._key


def _cases() -> dict[str, Callable[[], None]]:
    key = partner_client.secret_bytes(SECRET)
    headers = partner_client.sign("POST", URL, BODY, key_id="pk_1", secret=SECRET, created=int(time.time()))
    fields = (("host", "api.example.jp"), ("content-type", "application/json"), ("content-length", str(len(BODY))))
    fields += tuple((name.lower(), value) for name, value in headers.items())
    message = signatures.SignedMessage(
        "POST", "https", "api.example.jp", "/v1/partner/atm/withdrawals/authorize", "", fields, BODY
    )
    library = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_OneKey(key))

    def policy() -> signatures.Signature:
        signature = signatures.parse_signature(message)
        signatures.check_policy(message, signature, now=time.time(), window_seconds=WINDOW_SECONDS)
        return signature

    def ours() -> None:
        signature = policy()
        signatures.check_content_digest(message)
        base = signatures.signature_base(message, signature)
        assert hmac.compare_digest(signatures.hmac_sha256(key, base), signature.value)

    def library_alone() -> None:
        required = ("@method", "@target-uri", "content-digest")
        (result,) = library.verify(
            _Request("POST", URL, _Headers(fields)), max_age=None, require_components=required, body=BODY
        )
        assert result.nonce

    def library_in_the_gateway() -> None:
        policy()
        library_alone()

    return {"ours": ours, "library alone": library_alone, "library + our parse and policy": library_in_the_gateway}


def run() -> str:
    cases = _cases()
    micros: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, verify in cases.items():
            for _ in range(WARMUP):
                verify()
            started = time.process_time()
            for _ in range(VERIFIES):
                verify()
            micros[name].append((time.process_time() - started) / VERIFIES * 1e6)
    lines = [
        f"  {name}: median {statistics.median(runs):.1f} µs CPU/verify (runs: {', '.join(f'{r:.1f}' for r in runs)})"
        for name, runs in micros.items()
    ]
    ratio = statistics.median(micros["library + our parse and policy"]) / statistics.median(micros["ours"])
    return (
        f"RFC 9421 verify of one signed partner POST, {VERIFIES} per run, {ROUNDS} runs:\n"
        + "\n".join(lines)
        + f"\n  the library as the gateway would use it costs {ratio:.1f}x ours"
    )
