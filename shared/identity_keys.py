"""The key material of service identities (SEC-1): each service's own Ed25519 key, and everyone's public keys.

A service signs the identity of its calls with its private key (`SEKISHO_IDENTITY_KEY`, PKCS#8 PEM) and knows
every service's public keys (`SEKISHO_IDENTITY_PUBLIC_KEYS`, JSON `{"gateway": [PEM, …], "auth": […], …}`, the
first of each list the key in use, any further ones still accepted while that service's key rotates). Holding
one service's key lets a caller speak only as that service.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.tokens import load_private_key, load_public_key, new_signing_key, public_pem

PublicKeys = dict[str, list[Ed25519PublicKey]]


def new_identity_key() -> tuple[str, str]:
    """A fresh key pair (private PKCS#8 PEM, public PEM): the first is the service's secret alone."""
    return new_signing_key()


def load_identity_key(pem: str) -> Ed25519PrivateKey:
    try:
        return load_private_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError("the service identity key must be an Ed25519 private key in PEM (PKCS#8)") from exc


def load_public_keys(spec: Mapping[str, Sequence[str]], known: Sequence[str]) -> PublicKeys:
    """{service: [public key, …]} from {service: [PEM, …]}; every service known, every list non-empty, and no key
    listed for two services (a shared key would let one speak as the other)."""
    keys: PublicKeys = {}
    owners: dict[str, str] = {}
    for service, pems in spec.items():
        if service not in known:
            raise ValueError(f"unknown service {service!r} (known: {', '.join(known)})")
        if isinstance(pems, str) or not pems:
            raise ValueError(f"{service}: give a list of one or more public keys (PEM)")
        keys[service] = []
        for pem in pems:
            try:
                key = load_public_key(pem)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{service}: not an Ed25519 public key in PEM") from exc
            kid = key_id(key)
            if owners.setdefault(kid, service) != service:
                raise ValueError(f"the same identity key is listed for {owners[kid]} and {service}")
            keys[service].append(key)
    return keys


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The id a token names its key by: the start of the SHA-256 of the raw public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_keys_json(private_pems: Mapping[str, str]) -> str:
    """SEKISHO_IDENTITY_PUBLIC_KEYS for these services' private keys (one public key each)."""
    return json.dumps({service: [public_pem(load_identity_key(pem))] for service, pem in private_pems.items()})


def check_own_key(service: str, key: Ed25519PrivateKey, public_keys: PublicKeys) -> None:
    """Refuse a configuration whose public keys do not list this service's key: every service it calls would refuse
    it, and the mismatch is better said at start-up than as 401s later."""
    listed = {key_id(public) for public in public_keys.get(service, [])}
    if key_id(key) not in listed:
        raise RuntimeError(
            f"SEKISHO_IDENTITY_PUBLIC_KEYS does not list the public key of this service's SEKISHO_IDENTITY_KEY "
            f"under {service!r}: the services it calls would refuse it."
        )
