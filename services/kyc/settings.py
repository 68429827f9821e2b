"""Settings of the kyc service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from pydantic import Field

from services.kyc.jpki_settings import JpkiSettings
from shared.settings import ServiceSettings


class KycSettings(JpkiSettings, ServiceSettings):
    # eKYC images (KYC-1): each decoded image at most this many bytes, and between these pixel sizes a side. The
    # gateway lets the submission's body through up to SEKISHO_LARGE_BODY_MAX_BYTES (four images, base64).
    kyc_image_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    kyc_image_min_pixels: int = Field(default=320, ge=1)
    kyc_image_max_pixels: int = Field(default=8000, ge=1)
    # Postal KYC: how long the mailed code may be entered, and how many wrong entries end the case.
    kyc_postal_code_days: int = Field(default=14, ge=1, le=60)
    kyc_postal_code_max_attempts: int = Field(default=5, ge=1, le=10)
    # JPKI: how long a challenge may be signed, and how many refused signatures (customer's input) end the case.
    kyc_jpki_challenge_seconds: int = Field(default=300, ge=30, le=3600)
    kyc_jpki_max_attempts: int = Field(default=3, ge=1, le=10)
    # Staff: the least role that may see a case's images (`?images=true`) and the declared identity in full.
    kyc_image_view_role: str = Field(default="supervisor", pattern="^(analyst|supervisor|admin)$")
    # The relay that tells auth a customer's KYC status: how often it looks for due rows, and its backoff.
    kyc_sync_poll_seconds: float = Field(default=1.0, gt=0)
    kyc_sync_retry_max_seconds: float = Field(default=300.0, gt=0)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.jpki_trust_anchors is not None and self.jpki_crls is None:
            problems.append(
                "SEKISHO_JPKI_CRLS is not set: JPKI is offered without checking whether a card's certificate was "
                "revoked (a lost or stolen card would still pass)"
            )
        return problems
