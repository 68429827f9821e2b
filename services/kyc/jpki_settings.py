"""The JPKI settings of the kyc service: which CAs a My Number card's signing certificate must chain to, and CRLs.

A mixin for KycSettings (``class KycSettings(JpkiSettings, ServiceSettings)``), read from the environment with
the same SEKISHO_ prefix; both settings are parsed when the settings are built, so a bad PEM stops the service
at start-up rather than at a customer's first JPKI attempt.
"""

from __future__ import annotations

from typing import Self

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kyc.jpki import JpkiTrust


class JpkiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEKISHO_", extra="ignore", frozen=True)

    # PEM text of the J-LIS signing CA certificates (署名用認証局, e.g. the 2019 and 2023 roots); unset: JPKI is
    # not offered. Public data, so a plain setting (not a secret).
    jpki_trust_anchors: str | None = None
    # PEM text of the CRLs of those CAs (one or more "X509 CRL" blocks); unset: revocation is not checked.
    # A configured CRL past its nextUpdate refuses every JPKI verification of its CA until it is refreshed.
    jpki_crls: str | None = None

    @field_validator("jpki_trust_anchors", "jpki_crls")
    @classmethod
    def _jpki_blank_is_unset(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None

    @model_validator(mode="after")
    def _jpki_trust_parses(self) -> Self:
        if self.jpki_crls is not None and self.jpki_trust_anchors is None:
            raise ValueError("SEKISHO_JPKI_CRLS is set without SEKISHO_JPKI_TRUST_ANCHORS")
        self.jpki_trust()
        return self

    def jpki_trust(self) -> JpkiTrust | None:
        """The trust JPKI signatures are verified against, or None when JPKI is not configured."""
        if self.jpki_trust_anchors is None:
            return None
        crls = None if self.jpki_crls is None else self.jpki_crls.encode()
        return JpkiTrust.from_pem(self.jpki_trust_anchors.encode(), crls)
