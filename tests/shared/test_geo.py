"""The approximate place of an address comes from the offline database inside the geoip2fast package.

Country centres come from shared/data/country_centroids.csv; impossible travel is judged between those centres.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest

from shared.geo import centroid, distance_km, impossible_travel, place_of

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def centroid_rows() -> list[dict[str, str]]:
    """Read through importlib.resources, as the module does, so a file left out of the package fails here too."""
    text = (files("shared") / "data" / "country_centroids.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(("ip", "country"), [("133.242.0.1", "JP"), ("8.8.8.8", "US")])
def test_public_addresses_have_their_country(ip: str, country: str) -> None:
    place = place_of(ip)
    assert place is not None
    assert place.country_code == country


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "not-an-ip", "203.0.113.7"])
def test_private_unknown_and_malformed_addresses_have_no_place(ip: str) -> None:
    assert place_of(ip) is None


@pytest.mark.parametrize(
    "ip",
    [
        *("192.168.1.1", "172.16.0.1", "100.64.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1"),  # noqa: S104 - an address
        *("::1", "fe80::1", "fd00::1", "2001:db8::1"),
        *("", " ", "8.8", "8.8.8.8.8", "999.1.1.1", "1.2.3.4/24", "8.8.8.8 "),
    ],
)
def test_more_non_public_and_garbage_addresses_have_no_place(ip: str) -> None:
    assert place_of(ip) is None


def test_a_japanese_address_has_its_country_and_network() -> None:
    place = place_of("133.242.0.3")
    assert place is not None
    assert place.country_code == "JP"
    assert place.country_name == "Japan"
    assert place.network_name is not None
    assert "SAKURA" in place.network_name
    assert place.network_cidr is not None
    assert place.describe() == "Japan (JP)"


def test_google_dns_is_us_and_google() -> None:
    place = place_of("8.8.8.8")
    assert place is not None
    assert place.country_code == "US"
    assert place.network_name == "GOOGLE"
    assert place.network_cidr == "8.8.8.0/24"


def test_ipv6_and_ipv4_mapped_addresses_have_a_place() -> None:
    v6 = place_of("2001:4860:4860::8888")
    assert v6 is not None
    assert (v6.country_code, v6.network_name) == ("US", "GOOGLE")
    mapped = place_of("::ffff:133.242.0.3")
    assert mapped is not None
    assert mapped.country_code == "JP"


def test_tokyo_to_new_york_in_an_hour_is_impossible_in_fourteen_possible() -> None:
    assert impossible_travel("JP", T0, "US", T0 + timedelta(hours=1))
    assert not impossible_travel("JP", T0, "US", T0 + timedelta(hours=14))


def test_staying_in_one_country_is_never_impossible() -> None:
    assert not impossible_travel("JP", T0, "JP", T0)
    assert not impossible_travel("JP", T0, "jp", T0 - timedelta(hours=5))


def test_japan_to_korea_in_half_an_hour_is_impossible_in_three_hours_possible() -> None:
    km = distance_km("JP", "KR")
    assert km is not None
    assert 900 <= km <= 1200
    assert impossible_travel("JP", T0, "KR", T0 + timedelta(minutes=30))
    assert not impossible_travel("JP", T0, "KR", T0 + timedelta(hours=3))


def test_no_time_or_time_backwards_over_a_long_distance_is_impossible() -> None:
    assert impossible_travel("JP", T0, "US", T0)
    assert impossible_travel("JP", T0, "US", T0 - timedelta(hours=20))


def test_close_neighbours_and_unknown_countries_are_not_judged() -> None:
    assert not impossible_travel("BE", T0, "NL", T0)  # centres ~200 km apart: under min_km
    assert not impossible_travel("JP", T0, "ZZ", T0)
    assert distance_km("JP", "ZZ") is None


def test_the_thresholds_can_be_tuned() -> None:
    assert impossible_travel("JP", T0, "KR", T0 + timedelta(hours=3), max_kmh=300)
    assert not impossible_travel("JP", T0, "KR", T0, min_km=2000)


def test_distance_is_symmetric_and_plausible() -> None:
    assert distance_km("JP", "JP") == 0.0
    there, back = distance_km("JP", "US"), distance_km("US", "JP")
    assert there is not None
    assert there == back
    assert 9000 < there < 11000


def test_the_centroid_file_is_well_formed() -> None:
    rows = centroid_rows()
    assert len(rows) >= 190
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes))
    for row in rows:
        assert len(row["code"]) == 2
        assert row["code"].isalpha()
        assert row["code"].isupper()
        assert -90 <= float(row["lat"]) <= 90
        assert -180 <= float(row["lon"]) <= 180
    assert {"HK", "MO", "TW", "PR", "GU", "KR", "CN", "US", "GB"} <= set(codes)


def test_japan_and_the_us_have_their_centres_inside_them() -> None:
    jp, us = centroid("JP"), centroid("US")
    assert jp is not None
    assert us is not None
    assert 24 <= jp[0] <= 46
    assert 122 <= jp[1] <= 146
    assert 24 <= us[0] <= 50
    assert -125 <= us[1] <= -66
