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


def client_ip(request: Request, trusted: Sequence[Network]) -> str:
    peer = request.client.host if request.client else "unknown"
    return resolve_client_ip(peer, request.headers.getlist("x-forwarded-for"), trusted)
