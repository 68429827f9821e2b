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
    """Its fields (challenge, signature, certificate chain) come with the JPKI verifier."""

    model_config = ConfigDict(extra="allow")

    method: Literal["jpki"]


VerificationRequest = Annotated[EkycRequest | PostalRequest | JpkiRequest, Field(discriminator="method")]


class Started(BaseModel):
    verification_id: str
    status: str


class PostalCodeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=300)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300, description="told to the customer")
