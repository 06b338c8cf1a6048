"""Serving files of the local store behind signed, expiring links (S3 serves presigned URLs itself).

Every service that hands out links to its files (catalog thumbnails, content reports) serves
them the same way: the key must be one of the service's own kinds of file, the signature
and expiry must hold (a forged link and an expired one are told apart, so a person knows
whether asking again helps), and the answer is cached privately no longer than the link
lives. A service supplies only what differs: which keys it serves, how it words a refusal,
and whether a browser shows the file or saves it.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from litestar import Response

from api.common.errors import ProblemError
from api.common.storage import BlobNotFoundError, LocalBlobStorage

Disposition = Literal["inline", "attachment"]

_UNSAFE_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
MAX_FILENAME_LENGTH = 120


@dataclass(frozen=True, slots=True)
class SignedFilePolicy:
    """What one service's file route serves, and how it refuses."""

    media_type_of: Callable[[str], str | None]
    """The media type of a key this route serves; None for every other key (refused as a bad link)."""
    max_age_seconds: int
    """The longest a link of this service lives: the cache lifetime is never longer."""
    invalid_link: Callable[[bool], ProblemError]
    """The refusal of a link that is forged or names no served file (False) or has expired (True)."""
    missing_file: Callable[[], ProblemError]
    """The refusal of a valid link whose file is gone."""
    disposition: Disposition = "inline"


def safe_filename(name: str, *, max_length: int = MAX_FILENAME_LENGTH) -> str:
    """A file name any browser and file system accepts: no paths, quotes or control characters."""
    cleaned = _UNSAFE_IN_FILENAME.sub(" ", unicodedata.normalize("NFC", name))
    cleaned = " ".join(cleaned.split()).strip(" .")
    return cleaned[:max_length].rstrip(" .")


def ascii_filename(name: str) -> str:
    """The fallback ``filename=`` for old clients: accents dropped, anything else non-ASCII replaced."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return "".join(char if 32 <= ord(char) < 127 and char not in '"\\' else "_" for char in without_marks)


def content_disposition(disposition: Disposition, filename: str | None = None) -> str:
    """RFC 6266: a quoted ASCII ``filename`` and, for accented names, the UTF-8 ``filename*``."""
    if not filename:
        return disposition
    fallback = ascii_filename(filename)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


async def serve_signed_file(
    storage: LocalBlobStorage,
    policy: SignedFilePolicy,
    key: str,
    expires: int,
    signature: str,
    *,
    filename: str | None = None,
) -> Response[bytes]:
    """The file behind a signed link, or the policy's refusal; no token needed, the link is the key."""
    key = key.lstrip("/")
    media_type = policy.media_type_of(key)
    if media_type is None or not storage.verify_signed(key, expires, signature, filename=filename):
        expired = media_type is not None and storage.verify_signed(
            key, expires, signature, now=expires - 1, filename=filename
        )
        raise policy.invalid_link(expired)
    try:
        content = await storage.get(key)
    except BlobNotFoundError:
        raise policy.missing_file() from None
    remaining = max(0, min(policy.max_age_seconds, expires - int(time.time())))
    return Response(
        content,
        media_type=media_type,
        headers={
            "Cache-Control": f"private, max-age={remaining}",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": content_disposition(policy.disposition, filename),
        },
    )
