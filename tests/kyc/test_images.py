"""Image checks alone: type by magic bytes, dimensions from the header, structure, size. No I/O."""

from __future__ import annotations

import pytest

from services.kyc.errors import InvalidImages
from services.kyc.images import ImageDefect, ImageLimits, check_image, check_images, inspect
from tests.kyc.conftest import b64, jpeg, png

LIMITS = ImageLimits(max_bytes=64 * 1024, min_pixels=320, max_pixels=8000)


def test_the_type_and_size_come_from_the_bytes() -> None:
    assert inspect(png(1024, 768)) == ("image/png", 1024, 768)
    assert inspect(jpeg(1200, 1600)) == ("image/jpeg", 1200, 1600)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GIF89a" + b"\0" * 50, "unsupported_type"),
        (b"%PDF-1.7" + b"\0" * 50, "unsupported_type"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "unsupported_type"),
        (png()[:-12], "malformed"),  # no IEND
        (png()[:30] + b"\0" + png()[31:], "malformed"),  # a changed byte: the CRC no longer matches
        (png() + b"trailing", "malformed"),
        (b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + b"\0" * 17, "malformed"),
        (jpeg()[:-2], "malformed"),  # no end marker
        (b"\xff\xd8\xff\xe0\xff\xff" + b"\0" * 40, "malformed"),  # a segment longer than the file
        (b"\xff\xd8\xff\xda\x00\x04\x00\x00\xff\xd9", "malformed"),  # a scan before any frame header
    ],
    ids=[
        "gif",
        "pdf",
        "webp",
        "png-no-end",
        "png-bad-crc",
        "png-trailing",
        "png-bad-header",
        "jpeg-no-eoi",
        "jpeg-long",
        "jpeg-no-frame",
    ],
)
def test_anything_else_is_refused_with_its_reason(data: bytes, code: str) -> None:
    with pytest.raises(ImageDefect) as refused:
        check_image("front", b64(data), LIMITS)
    assert refused.value.code == code


def test_size_is_refused_before_and_after_decoding() -> None:
    with pytest.raises(ImageDefect) as long_text:
        check_image("front", "A" * (LIMITS.max_bytes * 2), LIMITS)
    assert long_text.value.code == "too_large"
    with pytest.raises(ImageDefect) as large:
        check_image("front", b64(png(padding=LIMITS.max_bytes)), LIMITS)
    assert large.value.code == "too_large"


def test_every_bad_image_is_named() -> None:
    images = {"front": b64(jpeg()), "back": b64(b"GIF89a"), "thickness": b64(png(100, 100)), "selfie": b64(png())}
    with pytest.raises(InvalidImages) as refused:
        check_images(images, LIMITS)
    assert [(v["field"], v["code"]) for v in refused.value.extra["violations"]] == [
        ("images.back", "unsupported_type"),
        ("images.thickness", "dimensions"),
    ]
