"""The gateway's public origins: the scheme, host and port a partner's signed `@target-uri` must name.

A signature binds a request to the URL the partner meant to call. Unless that URL is the gateway's own, a request
signed for another host (a test system, another bank's API that shares the partner's key handling) could be
replayed here and verify, so the gateway compares the signed scheme and authority with the origins it is known by.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

Origin = tuple[str, str, int]  # scheme, host (lower case, IPv6 without brackets), port

DEFAULT_PORTS = {"http": 80, "https": 443}
# `make run` serves on 127.0.0.1; a partner testing against it may well write localhost.
LOOPBACK_ALIASES = ("127.0.0.1", "localhost", "::1")


def parse_origin(text: str) -> Origin:
    """`https://api.example.jp` → ("https", "api.example.jp", 443); a path, query or user part is a mistake."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{text!r} is not an http(s) origin such as https://api.example.jp")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an origin: give only scheme://host[:port]")
    port = parts.port  # raises ValueError for a port that is not a number
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def serialize_origin(origin: Origin) -> str:
    """As a browser writes it in the Origin header: `https://app.example.jp`, the port only when not the default."""
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if DEFAULT_PORTS[scheme] == port else f"{scheme}://{shown}:{port}"


def origin_of(scheme: str, authority: str) -> Origin | None:
    """The origin a request names (its scheme and Host header); None when the authority is not host[:port]."""
    try:
        return parse_origin(f"{scheme}://{authority}")
    except ValueError:
        return None


def default_origins(gateway_url: str) -> tuple[Origin, ...]:
    """The gateway's own URL; a loopback URL also under its other loopback names (a development system)."""
    scheme, host, port = parse_origin(gateway_url)
    if host not in LOOPBACK_ALIASES:
        return ((scheme, host, port),)
    return tuple((scheme, alias, port) for alias in LOOPBACK_ALIASES)


class PublicOrigins:
    def __init__(self, origins: Iterable[Origin]) -> None:
        self._origins = frozenset(origins)

    @classmethod
    def configured(cls, public_origins: Iterable[str], gateway_url: str) -> PublicOrigins:
        listed = tuple(parse_origin(origin) for origin in public_origins)
        return cls(listed or default_origins(gateway_url))

    def admits(self, scheme: str, authority: str) -> bool:
        origin = origin_of(scheme, authority)
        return origin is not None and origin in self._origins
