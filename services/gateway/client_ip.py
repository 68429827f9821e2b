"""The caller's IP address: the TCP peer's, or from X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network

from starlette.requests import Request

Network = IPv4Network | IPv6Network


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(text: str, trusted: Sequence[Network]) -> bool:
    address = _parse(text)
    return address is not None and any(address in network for network in trusted)


def resolve_client_ip(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """Only a trusted peer's X-Forwarded-For is believed, and in it only what the trusted proxies appended:
    walking from the right, the first address that is not itself a trusted proxy is the client. Anything
    further left was written by the caller and could be anything."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _parse(hop) is None:
            return peer  # a malformed hop: believe nothing from the header
        if not _trusted(hop, trusted):
            return str(_parse(hop))
    return str(_parse(hops[0])) if hops else peer


def forwarded_scheme(request: Request, trusted: Sequence[Network]) -> str:
    """The scheme the caller used: behind a trusted TLS-terminating proxy, the X-Forwarded-Proto it appended
    (the last value); otherwise the scheme of the connection. A partner signs the URL it called (@target-uri)."""
    scheme = str(request.scope.get("scheme", "http")).lower()
    peer = request.client.host if request.client else ""
    if not trusted or not _trusted(peer, trusted):
        return scheme
    values = [
        part.strip().lower() for header in request.headers.getlist("x-forwarded-proto") for part in header.split(",")
    ]
    return values[-1] if values and values[-1] in ("http", "https") else scheme


def client_ip(request: Request, trusted: Sequence[Network]) -> str:
    peer = request.client.host if request.client else "unknown"
    return resolve_client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)
