"""Request and response bodies of the content API (reports, videos): camelCase, as the seed names them.

Request bodies refuse unknown fields. Formats, groupings, locales, time zones, dates and tags
arrive as plain strings and are checked by the service, which reports every invalid field
at once, in the caller's language; their allowed values are still declared in the OpenAPI
document.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec

from api.common.i18n import SUPPORTED_LOCALES, language_tag, translate
from api.common.schemas import CamelStruct
from api.content.downloads import DownloadLink
from api.content.repository import ContentRequestRecord
from api.content.service import RecapStart, ReportDraft, VideoDraft
from api.content.video.model import VIDEO_FORMATS
from api.content.video.music import TRACKS
from api.content.video.themes import THEMES
from workflows.report_generation_types import GROUP_BY_FIELDS, REPORT_FORMATS

REPORTS_PATH = "/v1/reports"
VIDEOS_PATH = "/v1/videos"


def _schema(description: str, *, examples: list[Any] | None = None, **extra: Any) -> msgspec.Meta:
    schema: dict[str, Any] = {"description": description}
    if examples:
        schema["examples"] = examples
    if extra:
        schema["extra"] = extra
    return msgspec.Meta(extra_json_schema=schema)


Title = Annotated[str, _schema("1 to 100 characters (spaces trimmed).", examples=["Minhas POCs de 2026"])]
Format = Annotated[str, _schema("The file to produce.", examples=["pdf"], enum=list(REPORT_FORMATS))]
Moment = Annotated[
    str,
    _schema(
        "A date (2026-01-31, the whole day in timeZone) or an ISO 8601 date and time.",
        examples=["2026-01-01"],
    ),
]
TagList = Annotated[
    list[str],
    _schema("At most 20 tags; case and accents do not matter.", examples=[["api", "programação"]]),
]
GroupByList = Annotated[
    list[str],
    _schema(
        "How the report groups the POCs, in this order.",
        examples=[["language", "month"]],
        items={"type": "string", "enum": list(GROUP_BY_FIELDS)},
    ),
]
LocaleTag = Annotated[
    str,
    _schema(
        "The report's language; by default the user's, else Accept-Language, else the platform's.",
        examples=["pt-BR"],
        enum=[language_tag(locale) for locale in SUPPORTED_LOCALES],
    ),
]
TimeZone = Annotated[
    str,
    _schema("IANA time zone for dates and months (default America/Sao_Paulo).", examples=["America/Manaus"]),
]


class InputStruct(CamelStruct, forbid_unknown_fields=True):
    pass


class ReportCreate(InputStruct):
    """The seed's ReportRequest."""

    title: Title
    format: Format
    from_: Moment | None = msgspec.field(default=None, name="from")
    to: Moment | None = None
    include_tags: TagList = msgspec.field(default_factory=list)
    exclude_tags: TagList = msgspec.field(default_factory=list)
    group_by: GroupByList = msgspec.field(default_factory=list)
    locale: LocaleTag | None = None
    time_zone: TimeZone | None = None

    def to_draft(self) -> ReportDraft:
        return ReportDraft(
            title=self.title,
            format=self.format,
            from_value=self.from_,
            to_value=self.to,
            include_tags=tuple(self.include_tags),
            exclude_tags=tuple(self.exclude_tags),
            group_by=tuple(self.group_by),
            locale=self.locale,
            time_zone=self.time_zone,
        )


class ReportLinks(CamelStruct):
    self_: str = msgspec.field(name="self")
    cancel: str
    download: str | None = None
    """Present once the report is completed."""


class ReportOut(CamelStruct):
    """A report request and where it is (the seed's RequestStatus and progress)."""

    id: UUID
    type: str
    status: str
    """PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED."""
    title: str
    format: str
    locale: str
    time_zone: str
    from_: datetime | None = msgspec.field(name="from")
    to: datetime | None
    """Exclusive end of the period."""
    include_tags: list[str]
    exclude_tags: list[str]
    group_by: list[str]
    progress: int
    step: str | None
    poc_count: int | None
    estimated_completion_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    error_code: str | None
    error_message: str | None
    download_url: str | None
    download_url_expires_at: datetime | None
    file_name: str | None
    media_type: str | None
    size_bytes: int | None
    links: ReportLinks

    @classmethod
    def from_record(cls, record: ContentRequestRecord, link: DownloadLink | None, now: datetime) -> ReportOut:
        base = f"{REPORTS_PATH}/{record.request_id}"
        completed = record.status == "COMPLETED"
        return cls(
            **_request_fields(record, link, now),
            group_by=list(record.parameters.get("group_by", [])),
            links=ReportLinks(
                self_=base, cancel=f"{base}/cancel", download=f"{base}/download" if completed else None
            ),
        )


def _request_fields(record: ContentRequestRecord, link: DownloadLink | None, now: datetime) -> dict[str, Any]:
    """The fields ReportOut and VideoOut share, read the same way from any stored request."""
    parameters = record.parameters
    completed = record.status == "COMPLETED"
    return {
        "id": record.request_id,
        "type": record.type,
        "status": record.status,
        "title": record.title,
        "format": record.format,
        "locale": language_tag(record.locale),
        "time_zone": str(parameters.get("time_zone", "")),
        "from_": record.from_date,
        "to": record.to_date,
        "include_tags": list(parameters.get("include_tags_display", [])),
        "exclude_tags": list(parameters.get("exclude_tags_display", [])),
        "progress": record.progress,
        "step": record.step,
        "poc_count": record.poc_count,
        "estimated_completion_at": estimated_completion(record, now),
        "created_at": record.created_at,
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "cancel_requested_at": record.cancel_requested_at,
        "error_code": record.error_code,
        "error_message": record.error_message,
        "download_url": link.url if link else None,
        "download_url_expires_at": link.expires_at if link else None,
        "file_name": link.filename if link else None,
        "media_type": record.result_media_type if completed else None,
        "size_bytes": record.result_size if completed else None,
    }


def estimated_completion(record: ContentRequestRecord, now: datetime) -> datetime | None:
    """Elapsed time scaled by the progress made; None before there is progress, and once it has ended."""
    if record.status != "PROCESSING" or record.started_at is None or not 0 < record.progress < 100:
        return None
    elapsed = max(timedelta(0), now - record.started_at)
    return record.started_at + elapsed * (100 / record.progress)


class DownloadLinkOut(CamelStruct):
    url: str
    expires_at: datetime
    file_name: str

    @classmethod
    def from_link(cls, link: DownloadLink) -> DownloadLinkOut:
        return cls(url=link.url, expires_at=link.expires_at, file_name=link.filename)


class FieldErrorOut(CamelStruct):
    field: str
    message: str


class ProblemOut(CamelStruct, omit_defaults=True):
    """RFC 9457 problem details, as every error of every service is answered (documentation only)."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None
    request_id: str | None = None
    retry_after: int | None = None
    """429 and 503: seconds to wait, also in the Retry-After header."""
    plan: str | None = None
    """quota-exceeded: the plan whose quota applies."""
    limit: int | None = None
    """quota-exceeded: reports per month of the plan."""
    used: int | None = None
    """quota-exceeded: reports counted this month (failed ones are not)."""
    resets_at: datetime | None = None
    """quota-exceeded: when the month (UTC) ends and requests are counted afresh."""
    report_id: UUID | None = None
    """queue-unavailable: the request that was stored and marked FAILED."""
    report_status: str | None = None
    """report-already-finished and report-not-ready: the request's status now."""
    video_id: UUID | None = None
    """no-pocs-in-period and queue-unavailable (videos): the request stored and marked FAILED."""
    video_status: str | None = None
    """video-already-finished and video-not-ready: the request's status now."""


# -- videos ---------------------------------------------------------------------------------------

VideoFormatName = Annotated[
    str, _schema("The frame size (default square).", examples=["square"], enum=list(VIDEO_FORMATS))
]
StyleName = Annotated[
    str, _schema("The visual theme (default the first).", examples=["aurora"], enum=list(THEMES))
]
TrackName = Annotated[
    str | None,
    _schema(
        "A bundled music track; null for a silent video, left out for the default track.",
        examples=["bright"],
        enum=[*TRACKS, None],
    ),
]
Year = Annotated[int, _schema("A calendar year in timeZone; instead of from/to.", examples=[2026])]
VideoTitle = Annotated[
    str, _schema('1 to 100 characters; by default "My year in POCs 2026" in the video\'s language.')
]


class VideoCreate(InputStruct):
    """The seed's VideoRequest. Give a year, or a period (from, to); neither means this year."""

    year: Year | None = None
    from_: Moment | None = msgspec.field(default=None, name="from")
    to: Moment | None = None
    title: VideoTitle | None = None
    include_tags: TagList = msgspec.field(default_factory=list)
    exclude_tags: TagList = msgspec.field(default_factory=list)
    style: StyleName | None = None
    music_track: TrackName | msgspec.UnsetType = msgspec.UNSET
    format: VideoFormatName | None = None
    locale: LocaleTag | None = None
    time_zone: TimeZone | None = None

    def to_draft(self) -> VideoDraft:
        given = self.music_track is not msgspec.UNSET
        return VideoDraft(
            year=self.year,
            from_value=self.from_,
            to_value=self.to,
            title=self.title,
            include_tags=tuple(self.include_tags),
            exclude_tags=tuple(self.exclude_tags),
            style=self.style,
            music_track=self.music_track if isinstance(self.music_track, str) else None,
            music_given=given,
            format=self.format,
            locale=self.locale,
            time_zone=self.time_zone,
        )


class VideoLinks(CamelStruct):
    self_: str = msgspec.field(name="self")
    cancel: str
    download: str | None = None
    """Present once the video is completed."""
    thumbnail: str | None = None


class VideoOut(CamelStruct):
    """A video request and where it is."""

    id: UUID
    type: str
    status: str
    """PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED."""
    title: str
    format: str
    style: str
    music_track: str | None
    locale: str
    time_zone: str
    year: int | None
    from_: datetime | None = msgspec.field(name="from")
    to: datetime | None
    """Exclusive end of the period."""
    include_tags: list[str]
    exclude_tags: list[str]
    progress: int
    step: str | None
    poc_count: int | None
    estimated_completion_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    error_code: str | None
    error_message: str | None
    download_url: str | None
    download_url_expires_at: datetime | None
    thumbnail_url: str | None
    file_name: str | None
    media_type: str | None
    size_bytes: int | None
    links: VideoLinks

    @classmethod
    def from_record(
        cls,
        record: ContentRequestRecord,
        link: DownloadLink | None,
        thumbnail: DownloadLink | None,
        now: datetime,
    ) -> VideoOut:
        parameters = record.parameters
        base = f"{VIDEOS_PATH}/{record.request_id}"
        completed = record.status == "COMPLETED"
        year = parameters.get("year")
        return cls(
            **_request_fields(record, link, now),
            style=str(parameters.get("style", "")),
            music_track=parameters.get("music_track"),
            year=int(year) if year is not None else None,
            thumbnail_url=thumbnail.url if thumbnail else None,
            links=VideoLinks(
                self_=base,
                cancel=f"{base}/cancel",
                download=f"{base}/download" if completed else None,
                thumbnail=f"{base}/thumbnail" if thumbnail else None,
            ),
        )


class OptionOut(CamelStruct):
    name: str
    title: str
    """In the caller's language."""


class FormatOptionOut(CamelStruct):
    name: str
    width: int
    height: int
    orientation: str
    """landscape, portrait or square."""


class VideoOptionsOut(CamelStruct):
    """What a client offers when a person asks for a video; the first of each list is the default."""

    styles: list[OptionOut]
    music_tracks: list[OptionOut]
    """Bundled tracks the platform may ship; a request may also ask for none (null)."""
    formats: list[FormatOptionOut]

    @classmethod
    def build(cls, locale: str) -> VideoOptionsOut:
        return cls(
            styles=[
                OptionOut(name=name, title=translate(locale, theme.label)) for name, theme in THEMES.items()
            ],
            music_tracks=[
                OptionOut(name=name, title=translate(locale, track.label)) for name, track in TRACKS.items()
            ],
            formats=[
                FormatOptionOut(
                    name=name, width=video.width, height=video.height, orientation=video.orientation
                )
                for name, video in VIDEO_FORMATS.items()
            ],
        )


class RecapCreate(InputStruct):
    """Start the yearly recap by hand (the schedule does it every January for the year before)."""

    year: Annotated[int, _schema("The calendar year whose recap to make.", examples=[2026])]
    tenant_id: UUID | None = None
    """Only this tenant; left out: the caller's tenant for an owner, every tenant for the platform."""


class RecapOut(CamelStruct):
    workflow_id: str
    """Find the run in the Temporal UI by this id."""
    year: int
    tenant_id: UUID | None
    started: bool
    """False when a run with this id was already running: it goes on, and nothing else is started."""

    @classmethod
    def from_start(cls, start: RecapStart) -> RecapOut:
        return cls(
            workflow_id=start.workflow_id, year=start.year, tenant_id=start.tenant_id, started=start.started
        )
