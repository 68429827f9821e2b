"""The approximate place of an address comes from the offline database inside the geoip2fast package."""

from __future__ import annotations

import pytest

from shared.geo import place_of


@pytest.mark.parametrize(("ip", "country"), [("133.242.0.1", "JP"), ("8.8.8.8", "US")])
def test_public_addresses_have_their_country(ip: str, country: str) -> None:
    place = place_of(ip)
    assert place is not None
    assert place.country_code == country


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "not-an-ip", "203.0.113.7"])
def test_private_unknown_and_malformed_addresses_have_no_place(ip: str) -> None:
    assert place_of(ip) is None
