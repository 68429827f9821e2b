"""Where an IP address is, roughly: country and network operator, and whether two places are too far apart in time.

No download at run time: the database is the ``geoip2fast-asn-ipv6.dat.gz`` file that ships inside the pinned
geoip2fast wheel (MaxMind GeoLite2 Country + ASN data frozen at that release), opened by its absolute path inside the
package: geoip2fast would otherwise look in the current directory first, and the file is a pickle.

One instance answers both IPv4 and IPv6. The IPv6 flavour was chosen over the IPv4-only ``geoip2fast-asn.dat.gz``
because much of Japan's consumer traffic (NTT FLET'S IPoE, the mobile carriers) arrives over IPv6, and an address with
no place is an address fraud rules cannot judge. Measured on geoip2fast 1.2.2 (one process, Python 3.11):

====================================  ==========  ===========  ===========
file                                  load        RSS growth   per lookup
====================================  ==========  ===========  ===========
geoip2fast.dat.gz (country, IPv4)     ~0.06 s     ~27 MiB      ~3-4 µs
geoip2fast-asn.dat.gz (IPv4)          ~0.15 s     ~74 MiB      ~6 µs
geoip2fast-asn-ipv6.dat.gz (chosen)   ~0.20 s     ~107 MiB     ~6 µs
====================================  ==========  ===========  ===========

:func:`place_of` costs ~8-18 µs in all, the :mod:`ipaddress` check below included.

If memory per worker matters more than IPv6 customers, switch ``DATA_FILE`` to ``geoip2fast-asn.dat.gz``: IPv6
addresses then simply have no place. geoip2fast keeps its tables in module globals, so any other ``GeoIP2Fast()`` made
in the same process replaces ours; only this module should make one.

Private, loopback, documentation, shared-address (CGNAT) and otherwise non-global addresses have no place, nor do
malformed ones (checked with :mod:`ipaddress` first, because geoip2fast accepts ``inet_aton`` shorthands such as
``"8.8"``). IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``, what a dual-stack listener reports) are looked up as IPv4.

Distances are between the approximate *geographic* centres of countries in ``data/country_centroids.csv`` (one
decimal, good to ~200 km; for scattered island territories the main inhabited island), not population centres. That is
coarse for large neighbours: the centres of the US and Canada are ~2,200 km apart though Seattle and Vancouver are
200 km apart, while Tokyo and Vladivostok are nowhere near Russia's centre in Siberia. Treat
:func:`impossible_travel` as a signal for review, not a verdict.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.resources import as_file, files
from typing import Any

from geoip2fast import GeoIP2Fast

DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
CENTROIDS_FILE = "country_centroids.csv"
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
AIRLINER_KMH = 900.0


@dataclass(frozen=True)
class Place:
    country_code: str
    country_name: str
    network_name: str | None = None  # the operator announcing the address (ASN name), e.g. "SAKURA Internet Inc."
    network_cidr: str | None = None  # the announced prefix the address falls in, e.g. "133.242.0.0/16"

    def describe(self) -> str:
        return f"{self.country_name} ({self.country_code})"


@lru_cache(maxsize=1)
def _database() -> Any:
    with as_file(files("geoip2fast") / DATA_FILE) as path:
        return GeoIP2Fast(geoip2fast_data_file=str(path), verbose=False)


def _public_address(ip: str) -> str | None:
    """The canonical form of ip if it can be somewhere on the public Internet; None for anything else."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_global else None


def _text(value: object) -> str | None:
    return str(value) if value else None


def place_of(ip: str) -> Place | None:
    address = _public_address(ip)
    if address is None:
        return None
    try:
        found = _database().lookup(address)
    except Exception:  # noqa: BLE001 - an address the database cannot handle simply has no place
        return None
    code = str(getattr(found, "country_code", "") or "")
    if getattr(found, "is_private", False) or len(code) != 2 or not code.isalpha():
        return None
    return Place(
        code,
        str(found.country_name),
        network_name=_text(getattr(found, "asn_name", None)),
        network_cidr=_text(getattr(found, "asn_cidr", None)),
    )


def warm_up() -> None:
    """Load the database and the centroids at start-up, not on a customer's request."""
    _database()
    _centroids()


@lru_cache(maxsize=1)
def _centroids() -> dict[str, tuple[float, float]]:
    text = (files("shared") / "data" / CENTROIDS_FILE).read_text(encoding="utf-8")
    return {row["code"]: (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(io.StringIO(text))}


def centroid(code: str) -> tuple[float, float] | None:
    """(latitude, longitude) of the country's approximate geographic centre; None for a code without one."""
    return _centroids().get(code.upper())


def distance_km(a_code: str, b_code: str) -> float | None:
    """Great-circle (haversine) distance between two countries' centres; None if either is unknown."""
    a, b = centroid(a_code), centroid(b_code)
    if a is None or b is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def impossible_travel(
    a_code: str,
    a_at: datetime,
    b_code: str,
    b_at: datetime,
    *,
    max_kmh: float = AIRLINER_KMH,
    min_km: float = 500.0,
) -> bool:
    """Whether one person could not have been in country a at a_at and then in country b at b_at.

    True only when the countries differ, their centres are more than min_km apart (neighbours closer than that are
    within the error of country centres), and getting from a to b would take faster than max_kmh (an airliner's
    cruising speed). a is the earlier event: a b that is not later than a (same instant, out of order, or clock skew)
    cannot be explained by travel at all, so it counts as impossible once the distance is over min_km. Unknown
    countries are never impossible: there is nothing to judge. a_at and b_at must both be aware (or both naive).
    """
    if a_code.upper() == b_code.upper():
        return False
    km = distance_km(a_code, b_code)
    if km is None or km <= min_km:
        return False
    hours = (b_at - a_at).total_seconds() / 3600
    if hours <= 0:
        return True
    return km / hours > max_kmh
