"""The networks an address belongs to: itself and its /24 (IPv4) or /56 (IPv6), as throttles and fraud count them."""

from __future__ import annotations

import ipaddress


def networks_of(ip: str) -> list[str]:
    """`["ip:<address>", "net:<network>"]`: a flood, or a mule farm, rarely comes from one address alone."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return [f"ip:{ip[:64]}"]
    prefix = 24 if address.version == 4 else 56
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return [f"ip:{address}", f"net:{network}"]


def client_key(ip: str) -> str:
    """What one client holds, as limits count it: an IPv4 address, or the /64 of an IPv6 one. A single IPv6
    subscriber gets a whole /64 (often more) and can take a fresh address for every request."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def network_of(ip: str) -> str | None:
    """The /24 or /56 that holds `ip`, or None for what is not an address."""
    found = networks_of(ip)
    return found[1].removeprefix("net:") if len(found) > 1 else None
