"""Settings of the fraud service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class FraudSettings(ServiceSettings):
    pass
