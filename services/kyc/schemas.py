"""The kyc service's request and response models: its contract with the customer (through the gateway) and staff."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# The identity documents eKYC accepts (the photo ID the Act on Prevention of Transfer of Criminal Proceeds lists
# for non-face-to-face verification with a document and a selfie).
DocumentType = Literal[
    "driving_licence", "my_number_card", "passport", "residence_card", "special_permanent_resident_certificate"
]
# Base64 text of one image; its decoded size is checked against the configured limit (images.py).
_Image = Annotated[str, Field(min_length=1, max_length=32 * 1024 * 1024)]


class EkycImages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    front: _Image
    back: _Image
    thickness: _Image
    selfie: _Image


class EkycRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["ekyc"]
    document_type: DocumentType
    images: EkycImages


class PostalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["postal"]


class JpkiRequest(BaseModel):
    """Opens the case and asks for a challenge; the signature follows on /jpki-signature."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["jpki"]


# Base64 of DER or PEM; jpki.py bounds the decoded sizes and answers `jpki_malformed` beyond them.
_Base64 = Annotated[str, Field(min_length=1, max_length=64 * 1024)]


class JpkiSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signature: _Base64
    certificate: _Base64
    chain: list[_Base64] = Field(default_factory=list, max_length=8)


VerificationRequest = Annotated[EkycRequest | PostalRequest | JpkiRequest, Field(discriminator="method")]


class Started(BaseModel):
    verification_id: str
    status: str
    challenge: str | None = Field(default=None, description="JPKI: base64 of the bytes to sign")
    challenge_expires_at: str | None = None


class PostalCodeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=300)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300, description="told to the customer")
