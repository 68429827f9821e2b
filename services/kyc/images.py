"""eKYC images checked before anything is stored: decoded size, type by magic bytes, dimensions from the header,
and a structure that holds together (KYC-1).

Headers are read here, without an image library: the checks need the type, the size and a structure walk (every
PNG chunk's CRC, every JPEG segment's length up to the scan and its end marker), and parsing no more than that keeps
a decoder's attack surface (and its dependency) out of a service that takes uploads from anyone. Pixels are never
decoded: the provider that compares faces does that, behind its own interface. JPEG and PNG only: what phone
cameras and document scanners give.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from services.kyc.errors import InvalidImages

KINDS = ("front", "back", "thickness", "selfie")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the dimensions.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length follows
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


class ImageDefect(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    min_pixels: int
    max_pixels: int


@dataclass(frozen=True)
class CheckedImage:
    kind: str
    content_type: str
    width: int
    height: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height of a well-formed PNG: IHDR first, every chunk's CRC right, IDAT present, IEND last."""
    position = len(PNG_SIGNATURE)
    dimensions: tuple[int, int] | None = None
    seen_data = False
    while True:
        if position + 12 > len(data):
            raise ImageDefect("malformed", "the PNG ends before its IEND chunk")
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ImageDefect("malformed", "a PNG chunk runs past the end of the file")
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise ImageDefect("malformed", "a PNG chunk's checksum is wrong")
        if dimensions is None:
            if kind != b"IHDR" or length != 13:
                raise ImageDefect("malformed", "the PNG does not start with its header chunk")
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            if depth not in _PNG_DEPTHS.get(colour, set()) or compression or filtering or interlace > 1:
                raise ImageDefect("malformed", "the PNG header names no valid image format")
            dimensions = (width, height)
        elif kind == b"IDAT":
            seen_data = True
        elif kind == b"IEND":
            if not seen_data:
                raise ImageDefect("malformed", "the PNG has no image data")
            if end != len(data):
                raise ImageDefect("malformed", "data follows the PNG's end")
            return dimensions
        position = end


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height of a well-formed JPEG: segments whose lengths chain up to a frame header and the scan, and
    the end-of-image marker last."""
    position = 2
    dimensions: tuple[int, int] | None = None
    while True:
        if position + 2 > len(data) or data[position] != 0xFF:
            raise ImageDefect("malformed", "the JPEG's segments do not chain")
        marker = data[position + 1]
        while marker == 0xFF and position + 2 < len(data):  # fill bytes before a marker
            position += 1
            marker = data[position + 1]
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (0xD8, 0xD9, 0x00):
            raise ImageDefect("malformed", "the JPEG has a marker out of place")
        if position + 4 > len(data):
            raise ImageDefect("malformed", "the JPEG ends inside a segment")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(data):
            raise ImageDefect("malformed", "a JPEG segment runs past the end of the file")
        if marker in _SOF:
            if length < 8:
                raise ImageDefect("malformed", "the JPEG frame header is too short")
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            dimensions = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data up to the end marker
            if dimensions is None:
                raise ImageDefect("malformed", "the JPEG scan comes before its frame header")
            if not data.endswith(b"\xff\xd9") or position + 2 + length >= len(data) - 2:
                raise ImageDefect("malformed", "the JPEG has no image data or no end marker")
            return dimensions
        position += 2 + length


def inspect(data: bytes) -> tuple[str, int, int]:
    """(content type, width, height), or ImageDefect: the type is what the bytes are, whatever the client said."""
    if data.startswith(PNG_SIGNATURE):
        return ("image/png", *png_dimensions(data))
    if data.startswith(JPEG_SOI):
        return ("image/jpeg", *jpeg_dimensions(data))
    raise ImageDefect("unsupported_type", "only JPEG and PNG images are accepted")


def check_image(kind: str, encoded: str, limits: ImageLimits) -> CheckedImage:
    # Refused before decoding when the text alone is already too long for the limit.
    if len(encoded) > (limits.max_bytes + 2) // 3 * 4 + 4:
        raise ImageDefect("too_large", f"the image is larger than {limits.max_bytes} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageDefect("not_base64", "the image is not base64") from exc
    if len(data) > limits.max_bytes:
        raise ImageDefect("too_large", f"the image is larger than {limits.max_bytes} bytes")
    content_type, width, height = inspect(data)
    for side in (width, height):
        if not limits.min_pixels <= side <= limits.max_pixels:
            raise ImageDefect(
                "dimensions",
                f"each side must be {limits.min_pixels} to {limits.max_pixels} pixels (this is {width}x{height})",
            )
    return CheckedImage(kind, content_type, width, height, data)


def check_images(encoded: Mapping[str, str], limits: ImageLimits) -> list[CheckedImage]:
    """Every image checked; any defect refuses them all, with one violation per bad image."""
    checked: list[CheckedImage] = []
    violations: list[dict[str, str]] = []
    for kind in KINDS:
        try:
            checked.append(check_image(kind, encoded[kind], limits))
        except ImageDefect as defect:
            violations.append({"field": f"images.{kind}", "code": defect.code, "message": defect.message})
    if violations:
        raise InvalidImages(f"{len(violations)} image(s) cannot be used; nothing was stored.", violations=violations)
    return checked
