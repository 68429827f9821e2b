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


# ---- Answers (typed for the public OpenAPI; the fields are what the handlers send, times as ISO 8601 text).


class ImageMetadata(BaseModel):
    """What was submitted of one image: never the image."""

    kind: str = Field(description="front | back | thickness | selfie")
    content_type: str
    width: int
    height: int
    size: int
    sha256: str


class JpkiProgress(BaseModel):
    challenge: str | None = Field(description="base64 of the bytes to sign, while a signature is awaited")
    challenge_expires_at: str | None
    attempts_left: int


class PostalProgress(BaseModel):
    expires_at: str
    attempts_left: int


class CustomerVerification(BaseModel):
    """The customer's own case; `images`, `jpki` and `postal` appear for a case of that method only."""

    verification_id: str
    method: str
    status: str
    document_type: str | None
    created_at: str
    updated_at: str
    reason: str | None = Field(description="why it was rejected; null unless rejected")
    images: list[ImageMetadata] | None = Field(default=None, description="eKYC only")
    jpki: JpkiProgress | None = Field(default=None, description="JPKI only")
    postal: PostalProgress | None = Field(default=None, description="postal only")


class VerificationState(BaseModel):
    """A case's status after a step: a right postal code, a staff decision."""

    verification_id: str
    status: str


class JpkiSignatureAccepted(BaseModel):
    verification_id: str
    status: str
    differs_from_declared: list[str] = Field(
        default_factory=list, description="the attributes the card states otherwise than declared; absent when none"
    )


class QueuedVerification(BaseModel):
    verification_id: str
    customer_id: str
    method: str
    status: str
    document_type: str | None
    created_at: str
    updated_at: str


class VerificationQueue(BaseModel):
    verifications: list[QueuedVerification]
    next: str | None = Field(description="`after` for the next page; null on the last page")


class DeclaredIdentity(BaseModel):
    """As the customer declared it: masked (DATA-1), or in full with `images=true`."""

    name: str
    name_kana: str
    birth_date: str
    address: str


class ReviewedImage(ImageMetadata):
    content: str | None = Field(default=None, description="base64 of the image, with `images=true` only")


class Transition(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from", description="null: the case was opened")
    to: str
    actor: str = Field(description="system | customer | a staff id")
    reason: str | None
    at: str


class StaffVerification(BaseModel):
    verification_id: str
    customer_id: str
    method: str
    status: str
    document_type: str | None
    created_at: str
    updated_at: str
    decided_by: str | None
    decision_reason: str | None
    declared: DeclaredIdentity
    images: list[ReviewedImage]
    transitions: list[Transition]
