"""Thumbnails are sniffed by their bytes, shrunk, stripped of metadata and kept under the seed's layout."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from api.catalog.errors import ImageTooLargeError, InvalidImageError, UnsupportedImageTypeError
from api.catalog.thumbnails import (
    JPEG,
    MAX_THUMBNAIL_UPLOAD_BYTES,
    PNG,
    WEBP,
    make_thumbnail,
    served_kind,
    sniff_image_kind,
    thumbnail_key,
)

pytestmark = pytest.mark.unit


def _encode(format: str, size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    output = io.BytesIO()
    Image.new(mode, size).save(output, format, **options)
    return output.getvalue()


def test_types_come_from_the_bytes() -> None:
    assert sniff_image_kind(_encode("PNG", (4, 4))) is PNG
    assert sniff_image_kind(_encode("JPEG", (4, 4))) is JPEG
    assert sniff_image_kind(_encode("WEBP", (4, 4))) is WEBP
    assert sniff_image_kind(_encode("GIF", (4, 4))) is None
    assert sniff_image_kind(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert sniff_image_kind(b"") is None


@pytest.mark.parametrize(
    ("size", "expected"),
    [((2000, 1000), (512, 256)), ((300, 900), (171, 512)), ((100, 80), (100, 80))],
)
def test_images_shrink_to_512_pixels_keeping_their_shape(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    thumbnail = make_thumbnail(_encode("PNG", size))
    assert (thumbnail.width, thumbnail.height) == expected
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        assert image.size == expected
        assert image.format == "PNG"


def test_modes_are_adapted_to_what_the_format_stores() -> None:
    rgba_png = make_thumbnail(_encode("PNG", (40, 40), mode="RGBA"))
    with Image.open(io.BytesIO(rgba_png.data)) as image:
        assert image.mode == "RGBA"
    cmyk_jpeg = make_thumbnail(_encode("JPEG", (40, 40), mode="CMYK"))
    with Image.open(io.BytesIO(cmyk_jpeg.data)) as image:
        assert image.mode == "RGB"
    palette_webp = make_thumbnail(_encode("WEBP", (40, 40), mode="RGBA"))
    assert palette_webp.kind is WEBP


def test_exif_metadata_is_not_kept_and_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the picture is taller than it is stored
    exif[0x010F] = "Camera Maker"
    source = _encode("JPEG", (400, 200), exif=exif.tobytes())
    thumbnail = make_thumbnail(source)
    with Image.open(io.BytesIO(thumbnail.data)) as image:
        assert image.size == (200, 400)
        assert not image.getexif()


def test_refusals() -> None:
    with pytest.raises(UnsupportedImageTypeError):
        make_thumbnail(_encode("BMP", (4, 4)))
    with pytest.raises(ImageTooLargeError):
        make_thumbnail(b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_THUMBNAIL_UPLOAD_BYTES)
    with pytest.raises(InvalidImageError):
        make_thumbnail(_encode("PNG", (10, 10))[:40])
    # A JPEG header glued to PNG data: the declared kind must decode.
    with pytest.raises(InvalidImageError):
        make_thumbnail(b"\xff\xd8\xff" + _encode("PNG", (10, 10)))


def test_decompression_bombs_are_refused_before_decoding() -> None:
    bomb = _encode("PNG", (8000, 6000), mode="1")
    assert len(bomb) < MAX_THUMBNAIL_UPLOAD_BYTES
    with pytest.raises(InvalidImageError) as refusal:
        make_thumbnail(bomb)
    assert refusal.value.params == {"pixels": 40}


def test_keys_follow_the_seeds_layout_and_only_they_are_served() -> None:
    tenant, owner, poc = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key = thumbnail_key(tenant, owner, poc, WEBP)
    assert key == f"tenants/{tenant}/users/{owner}/pocs/{poc}/thumbnail.webp"
    assert served_kind(key) is WEBP
    assert served_kind(f"tenants/{tenant}/branding.json") is None
    assert served_kind(key.replace("thumbnail.webp", "thumbnail.svg")) is None
    assert served_kind(f"../{key}") is None
