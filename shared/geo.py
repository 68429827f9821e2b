"""Where an IP address is, roughly: country (and network, for fraud) from the offline database geoip2fast ships.

No download at run time: the data files come inside the PyPI package. Private, loopback and unknown
addresses have no place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from geoip2fast import GeoIP2Fast


@dataclass(frozen=True)
class Place:
    country_code: str
    country_name: str

    def describe(self) -> str:
        return f"{self.country_name} ({self.country_code})"


@lru_cache(maxsize=1)
def _database() -> Any:
    return GeoIP2Fast(verbose=False)


def place_of(ip: str) -> Place | None:
    try:
        found = _database().lookup(ip)
    except Exception:  # noqa: BLE001 - a malformed address simply has no place
        return None
    code = str(getattr(found, "country_code", "") or "")
    if getattr(found, "is_private", False) or len(code) != 2 or not code.isalpha():
        return None
    return Place(code, str(found.country_name))


def warm_up() -> None:
    """Load the database at start-up, not on a customer's request."""
    _database()
