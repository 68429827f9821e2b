"""What the kyc service's routes work with, built once at start-up in app.py: the one composition root of kyc."""

from __future__ import annotations

from dataclasses import dataclass

from services.kyc.clients import AuthClient
from services.kyc.images import ImageLimits
from services.kyc.providers import EkycProvider
from services.kyc.settings import KycSettings
from services.kyc.status_sync import StatusSync
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database
from shared.outbox import Outbox


@dataclass
class KycRuntime:
    settings: KycSettings
    database: Database
    cipher: FieldCipher
    clock: Clock
    outbox: Outbox
    auth: AuthClient
    provider: EkycProvider
    status_sync: StatusSync

    @property
    def image_limits(self) -> ImageLimits:
        s = self.settings
        return ImageLimits(s.kyc_image_max_bytes, s.kyc_image_min_pixels, s.kyc_image_max_pixels)
