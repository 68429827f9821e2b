"""Settings of the kyc service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class KycSettings(ServiceSettings):
    pass
