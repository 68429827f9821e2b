"""Settings of the kyc service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from services.kyc.jpki_settings import JpkiSettings
from shared.settings import ServiceSettings


class KycSettings(JpkiSettings, ServiceSettings):
    pass
