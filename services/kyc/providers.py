"""The eKYC provider interface: who compares the document with the selfie and the declared identity.

A real vendor adapter implements `EkycProvider` (its own HTTP client, its own errors) and is chosen at start-up in
app.py. The development provider decides nothing itself: the images it gets have passed images.py's checks, so it
sends every case to staff (manual review).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from services.kyc.images import CheckedImage
from shared.contracts.identity import DeclaredIdentity

Outcome = Literal["approved", "rejected", "manual_review"]


@dataclass(frozen=True)
class EkycSubmission:
    verification_id: str
    document_type: str
    images: tuple[CheckedImage, ...]
    declared: DeclaredIdentity


@dataclass(frozen=True)
class ProviderVerdict:
    outcome: Outcome
    reason: str


class EkycProvider(Protocol):
    name: str

    async def assess(self, submission: EkycSubmission) -> ProviderVerdict: ...


class DevelopmentProvider:
    name = "development"

    async def assess(self, submission: EkycSubmission) -> ProviderVerdict:
        kinds = sorted(image.kind for image in submission.images)
        if kinds != sorted(("front", "back", "thickness", "selfie")):
            return ProviderVerdict("rejected", "the document or the selfie is missing")
        return ProviderVerdict("manual_review", "development provider: every case goes to staff review")
