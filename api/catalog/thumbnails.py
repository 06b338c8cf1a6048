"""POC thumbnails: check what was sent, shrink it, and keep it where the seed's layout says.

The type is read from the file's first bytes, never from its name or Content-Type, and the
image is decoded and re-encoded: what gets stored is always a fresh PNG, JPEG or WebP of at
most 512 px a side, without the uploader's metadata (EXIF location and the like).
Objects live at ``tenants/{tenant}/users/{owner}/pocs/{poc}/thumbnail.{ext}`` and are read by
browsers through signed, expiring links.
"""

from __future__ import annotations

import asyncio
import io
import re
import warnings
from dataclasses import dataclass
from uuid import UUID

from PIL import Image, ImageOps, UnidentifiedImageError

from api.catalog.errors import ImageTooLargeError, InvalidImageError, UnsupportedImageTypeError
from api.common.i18n import N_
from api.common.settings import Settings
from api.common.storage import SIGNING_KEY_FILE, LocalBlobStorage, load_or_create_signing_key

MAX_THUMBNAIL_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_THUMBNAIL_SIDE = 512
MAX_SOURCE_PIXELS = 40_000_000
"""Refuse bigger pictures before decoding them: a small file can expand to gigabytes."""
THUMBNAIL_URL_TTL_SECONDS = 3600
FILES_PATH = "/v1/files"
"""Where the catalog serves signed links to its files (the local store; S3 serves its own)."""

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_THUMBNAIL_KEY = re.compile(
    rf"^tenants/(?P<tenant>{_UUID})/users/{_UUID}/pocs/(?P<poc>{_UUID})/thumbnail\.(?P<ext>png|jpg|webp)$"
)


@dataclass(frozen=True, slots=True)
class ImageKind:
    extension: str
    media_type: str
    pillow_format: str


PNG = ImageKind("png", "image/png", "PNG")
JPEG = ImageKind("jpg", "image/jpeg", "JPEG")
WEBP = ImageKind("webp", "image/webp", "WEBP")
KINDS_BY_EXTENSION = {kind.extension: kind for kind in (PNG, JPEG, WEBP)}


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes
    kind: ImageKind
    width: int
    height: int


def sniff_image_kind(data: bytes) -> ImageKind | None:
    """The type by its magic bytes: PNG's signature, JPEG's SOI marker, WebP's RIFF header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def thumbnail_key(tenant_id: UUID, owner_id: UUID, poc_id: UUID, kind: ImageKind) -> str:
    return f"tenants/{tenant_id}/users/{owner_id}/pocs/{poc_id}/thumbnail.{kind.extension}"


def served_kind(key: str) -> ImageKind | None:
    """The type of a key the files route may serve; None for any other key."""
    match = _THUMBNAIL_KEY.match(key)
    return KINDS_BY_EXTENSION[match["ext"]] if match else None


def _flatten(image: Image.Image, kind: ImageKind) -> Image.Image:
    """A mode the target format can store (JPEG has no alpha; WebP takes no palettes)."""
    if kind is JPEG:
        if image.mode in ("RGB", "L"):
            return image
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if kind is WEBP and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA")
    if kind is PNG and image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        return image.convert("RGBA")
    return image


def make_thumbnail(data: bytes, max_side: int = MAX_THUMBNAIL_SIDE) -> Thumbnail:
    """Check, decode, orient, shrink and re-encode an uploaded image (CPU-bound: run in a thread)."""
    if len(data) > MAX_THUMBNAIL_UPLOAD_BYTES:
        raise ImageTooLargeError(MAX_THUMBNAIL_UPLOAD_BYTES)
    kind = sniff_image_kind(data)
    if kind is None:
        raise UnsupportedImageTypeError()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind.pillow_format]) as source:
                if source.width * source.height > MAX_SOURCE_PIXELS:
                    raise InvalidImageError(
                        N_("The image has too many pixels; at most {pixels} million are accepted."),
                        pixels=MAX_SOURCE_PIXELS // 1_000_000,
                    )
                source.load()
                image = ImageOps.exif_transpose(source) or source
                image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                image = _flatten(image, kind)
                output = io.BytesIO()
                if kind is JPEG:
                    image.save(output, "JPEG", quality=85, optimize=True, progressive=True)
                elif kind is WEBP:
                    image.save(output, "WEBP", quality=80, method=4)
                else:
                    image.save(output, "PNG", optimize=True)
                width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImageError(N_("The image could not be read; the file may be damaged.")) from exc
    except Image.DecompressionBombWarning as exc:
        raise InvalidImageError(
            N_("The image has too many pixels; at most {pixels} million are accepted."),
            pixels=MAX_SOURCE_PIXELS // 1_000_000,
        ) from exc
    return Thumbnail(data=output.getvalue(), kind=kind, width=width, height=height)


async def render_thumbnail(data: bytes) -> Thumbnail:
    return await asyncio.to_thread(make_thumbnail, data)


def catalog_blob_storage(settings: Settings) -> LocalBlobStorage:
    """The shared local store, with links that point at the catalog's files route on the edge."""
    signing_key = load_or_create_signing_key(settings.keys_dir / SIGNING_KEY_FILE)
    base_url = f"http://{settings.edge_host}:{settings.edge_port}{FILES_PATH}"
    return LocalBlobStorage(settings.storage_dir, signing_key, base_url=base_url)
