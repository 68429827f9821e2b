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


def network_of(ip: str) -> str | None:
    """The /24 or /56 that holds `ip`, or None for what is not an address."""
    found = networks_of(ip)
    return found[1].removeprefix("net:") if len(found) > 1 else None
