"""Finished reports and videos behind signed, expiring download links.

A report lives at ``tenants/{tenant}/users/{user}/reports/{request}.{ext}`` (the seed's layout,
`workflows.report_generation_types.report_result_key`); a video at
``videos/{tenant}/{user}/{year}/{request}.mp4`` with its thumbnail at
``videos/{tenant}/{user}/thumbnails/{request}.jpg`` (`workflows.yearly_video_types`). The API
never streams them to an
authenticated client: it signs a link valid for `DOWNLOAD_URL_TTL_SECONDS`, which names the
file the browser saves, and ``/v1/downloads/...`` serves exactly those keys through the
kernel's signed-file helper. In production S3 serves its own presigned URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from api.common.errors import ProblemError
from api.common.files import SignedFilePolicy, safe_filename
from api.common.settings import Settings
from api.common.storage import SIGNING_KEY_FILE, LocalBlobStorage, load_or_create_signing_key
from api.content.errors import DownloadLinkError, ReportFileMissingError

DOWNLOADS_PATH = "/v1/downloads"
DOWNLOAD_URL_TTL_SECONDS = 15 * 60

MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "mp4": "video/mp4",
    "jpg": "image/jpeg",
}
"""By extension, what the downloads route answers with (text types get ``charset=utf-8`` added)."""

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_REPORT_KEY = re.compile(rf"^tenants/{_UUID}/users/{_UUID}/reports/{_UUID}\.(?P<ext>pdf|xlsx|csv)$")
_VIDEO_KEY = re.compile(
    rf"^videos/{_UUID}/{_UUID}/(?:\d{{4}}/{_UUID}\.(?P<ext>mp4)|thumbnails/{_UUID}\.(?P<thumb>jpg))$"
)


@dataclass(frozen=True, slots=True)
class DownloadLink:
    url: str
    expires_at: datetime
    filename: str


def report_media_type(key: str) -> str | None:
    """The media type of a report key the downloads route serves; None for any other key."""
    match = _REPORT_KEY.match(key)
    return MEDIA_TYPES[match["ext"]] if match else None


def video_media_type(key: str) -> str | None:
    """The media type of a video or thumbnail key; None for any other key (work files included)."""
    match = _VIDEO_KEY.match(key)
    return MEDIA_TYPES[match["ext"] or match["thumb"]] if match else None


def content_media_type(key: str) -> str | None:
    """What the downloads route serves: finished reports, videos and thumbnails, nothing else."""
    return report_media_type(key) or video_media_type(key)


def download_filename(title: str, key: str, fallback: str) -> str:
    """What the browser saves: the report's title (or `fallback`) with the file's extension."""
    extension = key.rsplit(".", 1)[-1]
    stem = safe_filename(title) or safe_filename(fallback) or "download"
    return f"{stem}.{extension}"


def sign_download(storage: LocalBlobStorage, key: str, filename: str) -> DownloadLink:
    url = storage.sign_url(key, DOWNLOAD_URL_TTL_SECONDS, filename=filename)
    # The expiry the signature covers, read back so the one reported is exactly the one enforced.
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    return DownloadLink(url=url, expires_at=datetime.fromtimestamp(expires, UTC), filename=filename)


def _invalid_link(expired: bool) -> ProblemError:
    return DownloadLinkError(expired=expired)


CONTENT_DOWNLOADS = SignedFilePolicy(
    media_type_of=content_media_type,
    max_age_seconds=DOWNLOAD_URL_TTL_SECONDS,
    invalid_link=_invalid_link,
    missing_file=ReportFileMissingError,
    disposition="attachment",
)


def content_blob_storage(settings: Settings) -> LocalBlobStorage:
    """The shared local store, with links that point at content's downloads route on the edge."""
    signing_key = load_or_create_signing_key(settings.keys_dir / SIGNING_KEY_FILE)
    base_url = f"http://{settings.edge_host}:{settings.edge_port}{DOWNLOADS_PATH}"
    return LocalBlobStorage(settings.storage_dir, signing_key, base_url=base_url)
