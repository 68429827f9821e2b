"""Partner ATM networks' requests, signed per RFC 9421 with hmac-sha256 (API.md "Authentication of callers").

The pure part parses `Signature-Input`, `Signature` and `Content-Digest` (RFC 8941 structured fields, only
the subset partners use: one signature, an inner list of quoted component ids, string and integer
parameters), rebuilds the signature base of RFC 9421 §2.5 and checks the gateway's policy. The
`PartnerAuthenticator` adds what needs the database: the key, its partner, and the nonce never accepted twice.

Why our own and not the `http-message-signatures` package (3.0.0, weighed for issue #18): it covers the RFC —
hmac-sha256 (and ed25519, should partners move to it), @method/@target-uri/@authority/@path and the rest,
created/expires/keyid/nonce, `require_components`, Content-Digest against the body — but not the gateway:
- its key resolver is synchronous, and our keys are read from the database with await: the keyid would have to
  be parsed out of Signature-Input before its verify, i.e. this parser kept anyway;
- its time checks read the wall clock (datetime.now), with a fixed 5 s future skew and `max_age` only in the past:
  our window is symmetric and on the injected Clock (the tests freeze it); we would pass max_age=None and keep
  `check_policy`;
- it refuses with one InvalidSignature and a message, where API.md gives partners a `reason` per check
  (malformed, components, parameters, algorithm, stale, digest, mismatch): mapping its messages would tie us to
  its wording; so `parse_signature` and `check_policy` stay in front of it;
- what it would replace is then only the signature base and the HMAC, at 5.3x the CPU: `python -m bench
  signature_verify` measured ours at 58 µs a verify, the library alone at 249 µs, the library behind our parse and
  policy (as the gateway would have to use it) at 311 µs; and two more dependencies (it and http-sf).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.gateway import partners
from services.gateway.client_ip import Network, client_ip, forwarded_scheme
from services.gateway.origins import PublicOrigins
from shared.clock import Clock
from shared.crypto import DecryptionError, FieldCipher
from shared.problems import Problem

if TYPE_CHECKING:
    from starlette.requests import Request

    from shared.database import Database

ALGORITHM = "hmac-sha256"
MAX_NONCE_CHARS = 128
# Every partner signature covers these (API.md); content-digest too when the request has a body.
REQUIRED_COMPONENTS = ("@method", "@target-uri")
DERIVED_COMPONENTS = ("@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query")
PARAMETERS = ("created", "keyid", "alg", "nonce")
DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_FIELD_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~\-]+")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")


class SignatureInvalid(Problem):
    """Any failed check of a partner's signature; `reason` names the check, never the expected value."""

    status = 401
    code = "signature_invalid"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail, reason=reason)


class _Malformed(ValueError):
    pass


# --- structured fields (RFC 8941), the subset we accept ------------------------------------------------------

Value = str | int | bytes | tuple[str, ...]


@dataclass(frozen=True)
class Member:
    key: str
    value: Value
    params: tuple[tuple[str, str | int], ...]


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Malformed(f"expected {char!r} at position {self.at}")
        self.at += 1

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.at += 1

    def key(self) -> str:
        found = _KEY.match(self.text, self.at)
        if found is None:
            raise _Malformed(f"expected a key at position {self.at}")
        self.at = found.end()
        return found.group()

    def string(self) -> str:
        self.expect('"')
        out: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise _Malformed("unterminated string")
            self.at += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise _Malformed("bad escape in a string")
                self.at += 1
                out.append(escaped)
            elif not " " <= char <= "~":
                raise _Malformed("a string holds only printable ASCII")
            else:
                out.append(char)

    def bare_item(self) -> str | int | bytes:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            self.at += 1
            end = self.text.find(":", self.at)
            encoded = self.text[self.at : end] if end >= 0 else ""
            if end < 0 or not _BASE64.fullmatch(encoded):
                raise _Malformed("bad byte sequence")
            self.at = end + 1
            try:
                return base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise _Malformed("bad base64 in a byte sequence") from exc
        found = _INTEGER.match(self.text, self.at)
        if found is not None and not self.text[found.end() : found.end() + 1].isdigit():
            self.at = found.end()
            return int(found.group())
        raise _Malformed(f"unsupported value at position {self.at}")

    def params(self) -> tuple[tuple[str, str | int], ...]:
        out: list[tuple[str, str | int]] = []
        while self.peek() == ";":
            self.at += 1
            self.skip(" ")
            name = self.key()
            self.expect("=")
            value = self.bare_item()
            if isinstance(value, bytes):
                raise _Malformed(f"parameter {name} cannot be a byte sequence")
            if any(name == seen for seen, _ in out):
                raise _Malformed(f"parameter {name} given twice")
            out.append((name, value))
        return tuple(out)

    def inner_list(self) -> tuple[str, ...]:
        self.expect("(")
        items: list[str] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.at += 1
                return tuple(items)
            if items and self.text[self.at - 1] != " ":
                raise _Malformed("items of an inner list are separated by spaces")
            item = self.bare_item()
            if not isinstance(item, str):
                raise _Malformed("covered components are quoted strings")
            if self.peek() == ";":
                raise _Malformed("component parameters are not supported")
            items.append(item)


def parse_dictionary(text: str) -> list[Member]:
    """An RFC 8941 dictionary whose members are inner lists, strings, integers or byte sequences."""
    reader = _Reader(text)
    members: list[Member] = []
    reader.skip(" ")
    while True:
        key = reader.key()
        reader.expect("=")
        value: Value = reader.inner_list() if reader.peek() == "(" else reader.bare_item()
        if any(member.key == key for member in members):
            raise _Malformed(f"{key} given twice")
        members.append(Member(key, value, reader.params()))
        reader.skip(" \t")
        if not reader.peek():
            return members
        reader.expect(",")
        reader.skip(" \t")
        if not reader.peek():
            raise _Malformed("trailing comma")


def serialize_params(components: tuple[str, ...], params: tuple[tuple[str, str | int], ...]) -> str:
    """The inner list with its parameters, serialized per RFC 8941 §4.1.1.1: the `@signature-params` value."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    listed = " ".join(quoted(component) for component in components)
    return f"({listed})" + "".join(
        f";{name}={value if isinstance(value, int) else quoted(value)}" for name, value in params
    )


# --- the message and its signature base (RFC 9421 §2) --------------------------------------------------------


@dataclass(frozen=True)
class SignedMessage:
    """What of an HTTP request a signature can cover, as received (raw path and query, not decoded)."""

    method: str
    scheme: str
    authority: str
    path: str
    query: str  # without the "?"
    headers: tuple[tuple[str, str], ...]  # lower-case names, in order
    body: bytes

    def field(self, name: str) -> str | None:
        values = [value.strip(" \t") for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def component(self, identifier: str) -> str:
        target = self.path + (f"?{self.query}" if self.query else "")
        derived = {
            "@method": self.method,
            "@target-uri": f"{self.scheme}://{self.authority}{target}",
            "@authority": self.authority,
            "@scheme": self.scheme,
            "@request-target": target,
            "@path": self.path,
            "@query": f"?{self.query}",
        }
        if identifier in derived:
            return derived[identifier]
        value = self.field(identifier)
        if value is None:
            raise SignatureInvalid(f"The covered field {identifier} is not in the request.", reason="missing_component")
        return value


@dataclass(frozen=True)
class Signature:
    label: str
    components: tuple[str, ...]
    params: tuple[tuple[str, str | int], ...]
    value: bytes

    def param(self, name: str) -> str | int | None:
        return next((value for key, value in self.params if key == name), None)


def parse_signature(message: SignedMessage) -> Signature:
    """The one signature of the request; the checks of syntax only."""
    signature_input, signature = message.field("signature-input"), message.field("signature")
    if signature_input is None or signature is None:
        raise SignatureInvalid("The request is not signed: send Signature-Input and Signature.", reason="unsigned")
    try:
        inputs, values = parse_dictionary(signature_input), parse_dictionary(signature)
    except _Malformed as exc:
        raise SignatureInvalid(f"A signature header is malformed: {exc}.", reason="malformed") from exc
    if len(inputs) != 1 or len(values) != 1:
        raise SignatureInvalid("Exactly one signature is accepted per request.", reason="malformed")
    (entry,), (sig,) = inputs, values
    if not isinstance(entry.value, tuple):
        raise SignatureInvalid("Signature-Input must be an inner list of components.", reason="malformed")
    if sig.key != entry.key or not isinstance(sig.value, bytes) or sig.params:
        raise SignatureInvalid("Signature must hold one byte sequence labelled as in Signature-Input.", "malformed")
    for component in entry.value:
        if component not in DERIVED_COMPONENTS and not (
            not component.startswith("@") and _FIELD_NAME.fullmatch(component)
        ):
            raise SignatureInvalid(f"The component {component} is not supported.", reason="malformed")
    if len(set(entry.value)) != len(entry.value):
        raise SignatureInvalid("A component is covered twice.", reason="malformed")
    return Signature(entry.key, entry.value, entry.params, sig.value)


def signature_base(message: SignedMessage, signature: Signature) -> bytes:
    """RFC 9421 §2.5: one `"id": value` line per covered component, then `"@signature-params"`."""
    lines = [f'"{component}": {message.component(component)}' for component in signature.components]
    lines.append(f'"@signature-params": {serialize_params(signature.components, signature.params)}')
    return "\n".join(lines).encode()


def hmac_sha256(key: bytes, base: bytes) -> bytes:
    return hmac.new(key, base, hashlib.sha256).digest()


# --- the gateway's policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    key_id: str
    nonce: str
    created: int


def check_policy(message: SignedMessage, signature: Signature, *, now: float, window_seconds: int) -> Checked:
    """What API.md requires of a partner signature beyond its syntax; the key and the nonce come after."""
    required = REQUIRED_COMPONENTS + (("content-digest",) if message.body else ())
    missing = [component for component in required if component not in signature.components]
    if missing:
        raise SignatureInvalid(f"The signature must cover {', '.join(missing)}.", reason="components")
    unknown = [name for name, _ in signature.params if name not in PARAMETERS]
    if unknown:
        raise SignatureInvalid(f"Unsupported signature parameter(s): {', '.join(unknown)}.", reason="parameters")
    key_id, alg = signature.param("keyid"), signature.param("alg")
    created, nonce = signature.param("created"), signature.param("nonce")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureInvalid("The keyid parameter (a string) is required.", reason="parameters")
    if alg is not None and alg != ALGORITHM:
        raise SignatureInvalid(f"Only alg={ALGORITHM} is accepted.", reason="algorithm")
    if not isinstance(created, int):
        raise SignatureInvalid("The created parameter (an integer) is required.", reason="parameters")
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE_CHARS:
        raise SignatureInvalid(f"The nonce parameter (1 to {MAX_NONCE_CHARS} chars) is required.", "parameters")
    if abs(now - created) > window_seconds:
        raise SignatureInvalid(
            f"The signature was created outside the allowed window of {window_seconds} s.", reason="stale"
        )
    return Checked(key_id, nonce, created)


def check_content_digest(message: SignedMessage) -> None:
    """RFC 9530: every sha-256 / sha-512 digest given must match the body; at least one must be given."""
    header = message.field("content-digest")
    if header is None:
        if message.body:
            raise SignatureInvalid("A request with a body needs Content-Digest (sha-256).", reason="digest")
        return
    try:
        members = parse_dictionary(header)
    except _Malformed as exc:
        raise SignatureInvalid(f"Content-Digest is malformed: {exc}.", reason="digest") from exc
    known = [member for member in members if member.key in DIGESTS]
    if not known:
        raise SignatureInvalid("Content-Digest needs a sha-256 digest.", reason="digest")
    for member in known:
        expected = DIGESTS[member.key](message.body).digest()
        if not isinstance(member.value, bytes) or not hmac.compare_digest(member.value, expected):
            raise SignatureInvalid("Content-Digest does not match the body.", reason="digest")


def message_from_scope(scope: Mapping[str, Any], body: bytes, *, scheme: str | None = None) -> SignedMessage:
    """The message as the ASGI server received it: the raw path, the Host header as sent; `scheme`: the one the
    caller used where a trusted proxy terminated TLS (client_ip.forwarded_scheme)."""
    decoded = tuple((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"])
    authority = next((value for name, value in decoded if name == "host"), None)
    if authority is None:
        host, port = scope.get("server") or ("unknown", 0)
        authority = f"{host}:{port}"
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(scope.get("path", "/"))
    query = scope.get("query_string", b"")
    return SignedMessage(
        method=str(scope.get("method", "GET")).upper(),
        scheme=scheme or str(scope.get("scheme", "http")).lower(),
        authority=authority.lower(),
        path=path or "/",
        query=query.decode("latin-1") if isinstance(query, bytes) else "",
        headers=decoded,
        body=body,
    )


# --- with the database: the key, the partner, the nonce ------------------------------------------------------


@dataclass(frozen=True)
class PartnerCaller:
    partner_id: str
    partner_name: str
    key_id: str


class PartnerAuthenticator:
    """Authenticates a partner's request; partner routes call `authenticate(request)` before anything else."""

    def __init__(
        self,
        *,
        database: Database,
        cipher: FieldCipher,
        clock: Clock,
        window_seconds: int,
        origins: PublicOrigins,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self._database = database
        self._origins = origins
        self._trusted = trusted_proxies
        self._cipher = cipher
        self._clock = clock
        self._window = window_seconds
        self._purged_at = 0.0

    async def authenticate(self, request: Request) -> PartnerCaller:
        message = message_from_scope(
            request.scope, await request.body(), scheme=forwarded_scheme(request, self._trusted)
        )
        return await self.verify(message, client_ip=client_ip(request, self._trusted))

    async def verify(self, message: SignedMessage, *, client_ip: str) -> PartnerCaller:
        now = self._clock.now()
        signature = parse_signature(message)
        checked = check_policy(message, signature, now=now.timestamp(), window_seconds=self._window)
        # @target-uri is built from the request's scheme and Host: a signature made for another host, replayed
        # here with that Host header, would otherwise check out.
        if not self._origins.admits(message.scheme, message.authority):
            raise SignatureInvalid("The signed @target-uri is not an address of this gateway.", reason="target_uri")
        check_content_digest(message)
        async with self._database.direct_reading() as statements:
            key = await partners.find_key(statements, key_id=checked.key_id)
        if key is None:
            raise SignatureInvalid("The key id is unknown.", reason="unknown_key")
        if key.partner_disabled_at is not None:
            raise SignatureInvalid("The partner is disabled.", reason="partner_disabled")
        if key.revoked_at is not None:
            raise SignatureInvalid("The key has been revoked.", reason="key_revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise SignatureInvalid("The key has expired; sign with the new key.", reason="key_expired")
        try:
            secret = partners.decode_secret(self._cipher.open(key.sealed_secret, context=partners.CIPHER_CONTEXT))
        except (DecryptionError, ValueError) as exc:
            raise Problem("The partner key cannot be read.", code="internal_error", status=500) from exc
        expected = hmac_sha256(secret, signature_base(message, signature))
        if not hmac.compare_digest(expected, signature.value):
            raise SignatureInvalid("The signature does not match.", reason="mismatch")
        # After the signature: only a holder of the key learns that the address is the problem (SEC-4).
        if key.allowed_cidrs is not None and not _inside(client_ip, key.allowed_cidrs):
            raise SignatureInvalid("The request comes from outside the partner's allowed networks.", "ip_not_allowed")
        async with self._database.direct_statement() as statements:
            fresh = await partners.record_nonce(statements, partner_id=key.partner_id, nonce=checked.nonce, now=now)
        if not fresh:
            raise SignatureInvalid("The nonce has been used before.", reason="replayed")
        await self._purge(now.timestamp())
        return PartnerCaller(key.partner_id, key.partner_name, key.key_id)

    async def _purge(self, now: float) -> None:
        if now - self._purged_at < self._window:
            return
        self._purged_at = now
        # A nonce can come back only with a `created` inside the window, so twice the window covers any replay.
        async with self._database.one_statement() as session:
            await partners.purge_nonces(session, before=self._clock.now(), keep_seconds=2 * self._window)


def _inside(client_ip: str, cidrs: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
