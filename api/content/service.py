"""The content service's rules for reports and videos (the seed's ContentGenerationService). No HTTP here.

Accepting a report is one short transaction: under a per-tenant lock, replay the request an
Idempotency-Key names, or count the month's requests against the plan and insert a new
PENDING one. Only once that has committed is the ReportGeneration workflow started; if
Temporal does not take it, the request is marked FAILED (it would otherwise wait forever)
and the caller gets a 503 it may retry. Cancelling works the same way round: record the
wish, then ask Temporal; a workflow that never started cannot end the request, so the
request is cancelled here.

A video request is accepted the same way, but its YearlyVideo run is started with
update-with-start and the API waits (briefly) for the run's selection: a period without any of
the person's POCs ends FAILED (``NO_POCS``, not counted) and answers 422 instead of 202.

Only a request's owner sees it: another user of the tenant gets the same 404 as a missing id,
and other tenants' rows do not exist for row-level security.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

import structlog

from api.common.errors import BadRequestError, FieldError, ProblemError, ValidationProblem
from api.common.i18n import N_, SUPPORTED_LOCALES, format_date, language_tag, normalize_locale, translate
from api.common.labels import MAX_LABEL_LENGTH, InvalidLabelError, Label, parse_label, unique_labels
from api.common.pagination import PageParams
from api.common.settings import Settings
from api.common.storage import LocalBlobStorage
from api.content import repository
from api.content.downloads import DownloadLink, download_filename, sign_download
from api.content.errors import (
    CancelUnavailableError,
    IdempotencyKeyReusedError,
    NoPocsInPeriodError,
    QueueUnavailableError,
    QuotaExceededError,
    RecapForbiddenError,
    RecapUnavailableError,
    ReportAlreadyFinishedError,
    ReportNotFoundError,
    ReportNotReadyError,
    VideoAlreadyFinishedError,
    VideoCancelUnavailableError,
    VideoIdempotencyKeyReusedError,
    VideoNotFoundError,
    VideoNotReadyError,
    VideoQueueUnavailableError,
    VideoQuotaExceededError,
)
from api.content.queue import ContentQueue, QueueUnavailable
from api.content.quotas import QuotaWindow, month_window, report_quota, video_quota, year_window
from api.content.repository import ContentRequestRecord, NewContentRequest, RequestQuery
from api.content.unit_of_work import UnitOfWork
from api.content.video.model import VIDEO_FORMATS
from api.content.video.music import TRACKS
from api.content.video.themes import THEMES
from workflows.report_generation_types import (
    GROUP_BY_FIELDS,
    REPORT_FORMATS,
    REPORT_REQUEST_TYPE,
    ReportJob,
    report_workflow_id,
)
from workflows.yearly_recap_types import RecapInput
from workflows.yearly_video_types import (
    NO_POCS_ERROR_CODE,
    VIDEO_REQUEST_TYPE,
    VideoJob,
    recap_workflow_id,
    video_workflow_id,
    yearly_request_idempotency_key,
)

MAX_TITLE_LENGTH = 100
MAX_TAGS = 20
MAX_ITEMS_SENT = 200
"""A list longer than this is refused before its items are even looked at."""
MAX_PERIOD_YEARS = 10
MAX_PERIOD = timedelta(days=365 * MAX_PERIOD_YEARS + 3)
"""Ten calendar years, leap days included."""
FUTURE_LEEWAY = timedelta(minutes=5)
"""Clocks differ: an end a few minutes ahead of ours is still "now"."""
DEFAULT_TIME_ZONE = "America/Sao_Paulo"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
QUEUE_RETRY_AFTER_SECONDS = 30
QUEUE_UNAVAILABLE_MESSAGE = N_(
    "Reports could not be queued at that moment. Please request the report again; this one does"
    " not count towards your quota."
)

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]+$")

logger = structlog.get_logger(__name__)

WorkFactory = Callable[[UUID], AbstractAsyncContextManager[UnitOfWork]]


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: UUID
    tenant_id: UUID
    roles: tuple[str, ...] = ()
    plan: str | None = None
    """The token's ``plan`` claim; None for tokens older than the claim."""


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A report request as the client sent it; `validate_report` checks and normalises it."""

    title: str
    format: str
    from_value: str | None = None
    to_value: str | None = None
    include_tags: Sequence[str] = ()
    exclude_tags: Sequence[str] = ()
    group_by: Sequence[str] = ()
    locale: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class ValidReport:
    """A checked, normalised request: what is stored, hashed for idempotency and sent to the workflow."""

    title: str
    format: str
    locale: str
    time_zone: str
    from_date: datetime | None
    """Inclusive, UTC."""
    to_date: datetime | None
    """Exclusive, UTC; None: up to the moment the report runs."""
    include_tags: tuple[Label, ...] = ()
    exclude_tags: tuple[Label, ...] = ()
    group_by: tuple[str, ...] = ()

    def parameters(self) -> dict[str, Any]:
        """The JSON kept in ``content_requests.parameters``: everything a restart of the job needs."""
        return {
            **_label_parameters(self.include_tags, self.exclude_tags),
            "group_by": list(self.group_by),
            "time_zone": self.time_zone,
        }

    def request_hash(self) -> str:
        """Equal for two bodies that ask for the same report, whatever their spelling or tag order."""
        canonical = {
            "title": self.title,
            "format": self.format,
            "locale": self.locale,
            "timeZone": self.time_zone,
            "from": _iso(self.from_date),
            "to": _iso(self.to_date),
            "groupBy": list(self.group_by),
        }
        return _canonical_hash(canonical, self.include_tags, self.exclude_tags)


@dataclass(frozen=True, slots=True)
class Submission:
    record: ContentRequestRecord
    replayed: bool
    """True when an Idempotency-Key named an earlier request, which is returned instead."""


# -- validation ---------------------------------------------------------------------------------


@dataclass
class _Errors:
    items: list[FieldError] = field(default_factory=list)

    def add(self, field: str, message: str, **params: Any) -> None:
        error: FieldError = {"field": field, "message": message}
        if params:
            error["params"] = params
        self.items.append(error)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationProblem(errors=self.items)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _label_parameters(include: Sequence[Label], exclude: Sequence[Label]) -> dict[str, Any]:
    """The stored tags of any request: keys the job filters by, spellings shown back to the person."""
    return {
        "include_tags": [label.key for label in include],
        "exclude_tags": [label.key for label in exclude],
        "include_tags_display": [label.display for label in include],
        "exclude_tags_display": [label.display for label in exclude],
    }


def _canonical_hash(canonical: dict[str, Any], include: Sequence[Label], exclude: Sequence[Label]) -> str:
    """Equal for two bodies that ask for the same thing, whatever their spelling or tag order."""
    body = {
        **canonical,
        "includeTags": sorted(label.key for label in include),
        "excludeTags": sorted(label.key for label in exclude),
    }
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@cache
def known_time_zones() -> frozenset[str]:
    """The IANA names this machine knows; read once (the app warms it before the first request)."""
    return frozenset(available_timezones())


def _clean_title(value: str, errors: _Errors) -> str:
    title = " ".join(value.split())
    if not title:
        errors.add("title", N_("Must not be empty."))
    elif len(title) > MAX_TITLE_LENGTH:
        errors.add("title", N_("Must have at most {limit} characters."), limit=MAX_TITLE_LENGTH)
    elif not title.isprintable():
        errors.add("title", N_("Must not contain control characters."))
    return title


def _clean_format(value: str, errors: _Errors) -> str:
    chosen = value.strip().lower()
    if chosen not in REPORT_FORMATS:
        errors.add(
            "format",
            N_('Unknown format "{value}". Use one of: {allowed}.'),
            value=value.strip()[:20],
            allowed=", ".join(REPORT_FORMATS),
        )
    return chosen


def _clean_locale(value: str | None, fallback: str, errors: _Errors) -> str:
    if value is None or not value.strip():
        return normalize_locale(fallback) or SUPPORTED_LOCALES[0]
    chosen = normalize_locale(value)
    if chosen is None or chosen not in SUPPORTED_LOCALES:
        errors.add(
            "locale",
            N_("Must be one of: {allowed}."),
            allowed=", ".join(language_tag(locale) for locale in SUPPORTED_LOCALES),
        )
        return SUPPORTED_LOCALES[0]
    return chosen


def _clean_time_zone(value: str | None, errors: _Errors) -> tuple[str, ZoneInfo]:
    name = (value or "").strip() or DEFAULT_TIME_ZONE
    if name not in known_time_zones():
        errors.add(
            "timeZone",
            N_('Unknown time zone "{value}"; use an IANA name such as America/Sao_Paulo.'),
            value=name[:60],
        )
        name = DEFAULT_TIME_ZONE
    return name, ZoneInfo(name)


def _clean_labels(values: Sequence[str], field: str, errors: _Errors) -> tuple[Label, ...]:
    if len(values) > MAX_ITEMS_SENT:
        errors.add(field, N_("Must have at most {limit} items."), limit=MAX_TAGS)
        return ()
    labels: list[Label] = []
    for index, value in enumerate(values):
        try:
            labels.append(parse_label(value))
        except InvalidLabelError as exc:
            errors.add(f"{field}[{index}]", exc.reason, limit=MAX_LABEL_LENGTH)
    unique = unique_labels(labels)
    if len(unique) > MAX_TAGS:
        errors.add(field, N_("Must have at most {limit} items."), limit=MAX_TAGS)
    return tuple(unique)


def _clean_tags(
    include: Sequence[str], exclude: Sequence[str], errors: _Errors
) -> tuple[tuple[Label, ...], tuple[Label, ...]]:
    """Both tag lists of a request; a tag may not be included and excluded at once."""
    include_tags = _clean_labels(include, "includeTags", errors)
    exclude_tags = _clean_labels(exclude, "excludeTags", errors)
    included = {label.key for label in include_tags}
    for index, label in enumerate(exclude_tags):
        if label.key in included:
            errors.add(
                f"excludeTags[{index}]",
                N_('"{tag}" is also in includeTags; a tag cannot be both included and excluded.'),
                tag=label.display,
            )
    return include_tags, exclude_tags


def _clean_group_by(values: Sequence[str], errors: _Errors) -> tuple[str, ...]:
    if len(values) > MAX_ITEMS_SENT:
        errors.add("groupBy", N_("Must have at most {limit} items."), limit=len(GROUP_BY_FIELDS))
        return ()
    chosen: list[str] = []
    for index, value in enumerate(values):
        name = value.strip().lower()
        if name not in GROUP_BY_FIELDS:
            errors.add(
                f"groupBy[{index}]",
                N_('Unknown grouping "{value}". Use one of: {allowed}.'),
                value=value.strip()[:20],
                allowed=", ".join(GROUP_BY_FIELDS),
            )
        elif name not in chosen:
            chosen.append(name)
    return tuple(chosen)


@dataclass(frozen=True, slots=True)
class _Moment:
    instant: datetime
    day: date | None
    """The calendar day when only a date was given."""


def _parse_moment(value: str | None, field: str, zone: ZoneInfo, errors: _Errors) -> _Moment | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            day = date.fromisoformat(text)
            return _Moment(datetime.combine(day, time(), tzinfo=zone), day)
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors.add(field, N_("Must be a date (2026-01-31) or a date and time (2026-01-31T18:00:00-03:00)."))
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return _Moment(moment, None)


def _clean_period(
    from_value: str | None, to_value: str | None, zone: ZoneInfo, now: datetime, errors: _Errors
) -> tuple[datetime | None, datetime | None]:
    """``[from, to)`` in UTC. A date alone means the whole day in `zone`: ``to=2026-01-31`` includes it."""
    start = _parse_moment(from_value, "from", zone, errors)
    end = _parse_moment(to_value, "to", zone, errors)
    from_date = None if start is None else start.instant.astimezone(UTC)
    to_date = None
    if end is not None:
        if end.day is not None:
            next_day = datetime.combine(end.day + timedelta(days=1), time(), tzinfo=zone)
            to_date = next_day.astimezone(UTC)
            if end.day > now.astimezone(zone).date():
                errors.add("to", N_("Must not be in the future."))
        else:
            to_date = end.instant.astimezone(UTC)
            if to_date > now + FUTURE_LEEWAY:
                errors.add("to", N_("Must not be in the future."))
    if from_date is not None and from_date > now:
        errors.add("from", N_("Must not be in the future."))
    if from_date is not None and to_date is not None:
        if to_date <= from_date:
            errors.add("to", N_("Must be after the start of the period (from)."))
        elif to_date - from_date > MAX_PERIOD:
            errors.add("to", N_("The period may cover at most {years} years."), years=MAX_PERIOD_YEARS)
    elif from_date is not None and now - from_date > MAX_PERIOD:
        errors.add("from", N_("The period may cover at most {years} years."), years=MAX_PERIOD_YEARS)
    return from_date, to_date


def validate_report(draft: ReportDraft, *, fallback_locale: str, now: datetime) -> ValidReport:
    """The normalised request, or a 422 listing every invalid field at once."""
    errors = _Errors()
    title = _clean_title(draft.title, errors)
    report_format = _clean_format(draft.format, errors)
    locale = _clean_locale(draft.locale, fallback_locale, errors)
    time_zone, zone = _clean_time_zone(draft.time_zone, errors)
    from_date, to_date = _clean_period(draft.from_value, draft.to_value, zone, now, errors)
    include_tags, exclude_tags = _clean_tags(draft.include_tags, draft.exclude_tags, errors)
    group_by = _clean_group_by(draft.group_by, errors)
    errors.raise_if_any()
    return ValidReport(
        title=title,
        format=report_format,
        locale=locale,
        time_zone=time_zone,
        from_date=from_date,
        to_date=to_date,
        include_tags=include_tags,
        exclude_tags=exclude_tags,
        group_by=group_by,
    )


def checked_idempotency_key(value: str | None) -> str | None:
    """The header's key; 400 when it is empty, too long or not printable ASCII."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not _IDEMPOTENCY_KEY.match(key):
        raise BadRequestError(
            N_("Some request parameters are invalid."),
            errors=[
                {
                    "field": "Idempotency-Key",
                    "message": N_("Must have 1 to {limit} visible ASCII characters."),
                    "params": {"limit": MAX_IDEMPOTENCY_KEY_LENGTH},
                }
            ],
        )
    return key


def _choices(values: Sequence[str], allowed: Sequence[str], field: str) -> tuple[str, ...]:
    chosen: list[str] = []
    for value in values:
        name = value.strip()
        match = next((option for option in allowed if option.lower() == name.lower()), None)
        if match is None:
            raise BadRequestError(
                N_("Some request parameters are invalid."),
                errors=[
                    {
                        "field": field,
                        "message": N_('Unknown value "{value}". Use one of: {allowed}.'),
                        "params": {"value": name[:20], "allowed": ", ".join(allowed)},
                    }
                ],
            )
        if match not in chosen:
            chosen.append(match)
    return tuple(chosen)


def _job_fields(record: ContentRequestRecord) -> dict[str, Any]:
    """What every workflow input takes from the stored request, whatever its type."""
    parameters = record.parameters
    return {
        "request_id": str(record.request_id),
        "tenant_id": str(record.tenant_id),
        "user_id": str(record.user_id),
        "title": record.title,
        "format": record.format,
        "locale": record.locale,
        "time_zone": str(parameters.get("time_zone") or DEFAULT_TIME_ZONE),
        "include_tags": list(parameters.get("include_tags", [])),
        "exclude_tags": list(parameters.get("exclude_tags", [])),
    }


def report_job(record: ContentRequestRecord) -> ReportJob:
    """The workflow's input, rebuilt from the stored request (so a replay can start it again)."""
    return ReportJob(
        **_job_fields(record),
        from_date=_iso(record.from_date),
        to_date=_iso(record.to_date),
        group_by=list(record.parameters.get("group_by", [])),
    )


# -- videos ---------------------------------------------------------------------------------------

MIN_VIDEO_YEAR = 1970
DEFAULT_VIDEO_FORMAT = "square"
NO_POCS_ERROR = NO_POCS_ERROR_CODE
"""The ``error_code`` of a video request whose period holds none of the person's POCs."""
DEFAULT_VIDEO_TITLE = N_("My year in POCs {year}")
PERIOD_VIDEO_TITLE = N_("My POCs from {start} to {end}")
NO_POCS_MESSAGE = N_(
    "There were no POCs in this period with these tags, so no video was made. This request does not"
    " count towards your quota."
)
VIDEO_QUEUE_UNAVAILABLE_MESSAGE = N_(
    "The video could not be queued at that moment. Please request it again; this one does not count"
    " towards your quota."
)


@dataclass(frozen=True, slots=True)
class VideoDraft:
    """A video request as the client sent it; `validate_video` checks and normalises it."""

    year: int | None = None
    from_value: str | None = None
    to_value: str | None = None
    title: str | None = None
    include_tags: Sequence[str] = ()
    exclude_tags: Sequence[str] = ()
    style: str | None = None
    music_track: str | None = None
    music_given: bool = False
    """False when the client left ``musicTrack`` out (the default track plays); None then means silence."""
    format: str | None = None
    locale: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class ValidVideo:
    title: str
    format: str
    style: str
    music_track: str | None
    locale: str
    time_zone: str
    year: int | None
    from_date: datetime
    """Inclusive, UTC (the first instant of the year in `time_zone` for a year)."""
    to_date: datetime
    """Exclusive, UTC."""
    include_tags: tuple[Label, ...] = ()
    exclude_tags: tuple[Label, ...] = ()

    def parameters(self) -> dict[str, Any]:
        return {
            **_label_parameters(self.include_tags, self.exclude_tags),
            "time_zone": self.time_zone,
            "style": self.style,
            "music_track": self.music_track,
            "year": self.year,
        }

    def request_hash(self) -> str:
        canonical = {
            "type": VIDEO_REQUEST_TYPE,
            "title": self.title,
            "format": self.format,
            "style": self.style,
            "musicTrack": self.music_track,
            "locale": self.locale,
            "timeZone": self.time_zone,
            "year": self.year,
            "from": _iso(self.from_date),
            "to": _iso(self.to_date),
        }
        return _canonical_hash(canonical, self.include_tags, self.exclude_tags)


def _clean_choice(
    value: str | None, default: str, allowed: Sequence[str], field: str, errors: _Errors
) -> str:
    if value is None or not value.strip():
        return default
    chosen = value.strip().lower()
    if chosen not in allowed:
        errors.add(
            field,
            N_('Unknown value "{value}". Use one of: {allowed}.'),
            value=value.strip()[:20],
            allowed=", ".join(allowed),
        )
        return default
    return chosen


def _year_period(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    return start, datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)


def validate_video(draft: VideoDraft, *, fallback_locale: str, now: datetime) -> ValidVideo:
    """The normalised request, or a 422 listing every invalid field at once.

    Without a year or a period, the current year in the request's time zone is meant.
    """
    errors = _Errors()
    locale = _clean_locale(draft.locale, fallback_locale, errors)
    time_zone, zone = _clean_time_zone(draft.time_zone, errors)
    current_year = now.astimezone(zone).year
    year: int | None = None
    if draft.year is not None:
        if draft.from_value or draft.to_value:
            errors.add("year", N_("Give a year or a period (from and to), not both."))
        if not MIN_VIDEO_YEAR <= draft.year <= current_year:
            errors.add(
                "year", N_("Must be between {first} and {last}."), first=MIN_VIDEO_YEAR, last=current_year
            )
        year = draft.year
    elif not draft.from_value and not draft.to_value:
        year = current_year
    if year is not None:
        bounded = min(max(year, MIN_VIDEO_YEAR), current_year)
        from_date, to_date = _year_period(bounded, zone)
    else:
        start, end = _clean_period(draft.from_value, draft.to_value, zone, now, errors)
        if start is None and not any(item["field"] == "from" for item in errors.items):
            errors.add("from", N_("Required when no year is given."))
        from_date = start or now
        to_date = end or now
    include_tags, exclude_tags = _clean_tags(draft.include_tags, draft.exclude_tags, errors)
    style = _clean_choice(draft.style, next(iter(THEMES)), list(THEMES), "style", errors)
    video_format = _clean_choice(draft.format, DEFAULT_VIDEO_FORMAT, list(VIDEO_FORMATS), "format", errors)
    default_track = next(iter(TRACKS))
    music_track: str | None = default_track
    if draft.music_given:
        music_track = (
            None
            if draft.music_track is None
            else _clean_choice(draft.music_track, default_track, list(TRACKS), "musicTrack", errors)
        )
    if draft.title is None or not draft.title.strip():
        title = _default_video_title(locale, year, from_date, to_date, zone)
    else:
        title = _clean_title(draft.title, errors)
    errors.raise_if_any()
    return ValidVideo(
        title=title,
        format=video_format,
        style=style,
        music_track=music_track,
        locale=locale,
        time_zone=time_zone,
        year=year,
        from_date=from_date,
        to_date=to_date,
        include_tags=include_tags,
        exclude_tags=exclude_tags,
    )


def _default_video_title(
    locale: str, year: int | None, from_date: datetime, to_date: datetime, zone: ZoneInfo
) -> str:
    if year is not None:
        return translate(locale, DEFAULT_VIDEO_TITLE, year=year)
    last_day = (to_date - timedelta(microseconds=1)).astimezone(zone).date()
    return translate(
        locale,
        PERIOD_VIDEO_TITLE,
        start=format_date(from_date.astimezone(zone).date(), locale, format="short"),
        end=format_date(last_day, locale, format="short"),
    )[:MAX_TITLE_LENGTH]


def video_job(record: ContentRequestRecord) -> VideoJob:
    """The YearlyVideo input, rebuilt from the stored request (a replay can start it again)."""
    parameters = record.parameters
    year = parameters.get("year")
    return VideoJob(
        **_job_fields(record),
        style=str(parameters.get("style") or next(iter(THEMES))),
        music_track=parameters.get("music_track"),
        year=int(year) if year is not None else None,
        from_date=None if year is not None else _iso(record.from_date),
        to_date=None if year is not None else _iso(record.to_date),
    )


# -- the services ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Intake:
    """What differs between request types when one is accepted."""

    request_hash: str | None
    new_request: Callable[[UUID], NewContentRequest]
    check_quota: Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RequestFilters:
    statuses: Sequence[str] = ()
    formats: Sequence[str] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None


class _ValidRequest(Protocol):
    """A checked request of any type, as `_RequestService.intake` stores it."""

    @property
    def title(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def from_date(self) -> datetime | None: ...
    @property
    def to_date(self) -> datetime | None: ...
    def parameters(self) -> dict[str, Any]: ...
    def request_hash(self) -> str: ...


class _RequestService:
    """Accepting, reading, listing, cancelling and linking one type of content request.

    Reports and videos share every rule here; a subclass names its type, its formats, its
    workflow ids, its quota (limit, window and problem) and the problems its clients see.
    """

    request_type: str
    formats: tuple[str, ...]
    file_fallback_name: str
    quota_exceeded: type[QuotaExceededError]

    def __init__(
        self,
        settings: Settings,
        work: WorkFactory,
        queue: ContentQueue,
        storage: LocalBlobStorage,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._work = work
        self._queue = queue
        self._storage = storage
        self._clock = clock

    # the problems of this type
    def not_found(self) -> ProblemError:
        raise NotImplementedError

    def already_finished(self, status: str) -> ProblemError:
        raise NotImplementedError

    def not_ready(self, status: str) -> ProblemError:
        raise NotImplementedError

    def key_reused(self) -> ProblemError:
        raise NotImplementedError

    def cancel_unavailable(self) -> ProblemError:
        raise NotImplementedError

    # what else differs by type
    def workflow_id(self, tenant_id: str, request_id: str) -> str:
        raise NotImplementedError

    def quota(self, plan: str | None) -> tuple[str, int]:
        """The plan that applies and how many requests of this type it allows per window."""
        raise NotImplementedError

    def quota_window(self, now: datetime) -> QuotaWindow:
        raise NotImplementedError

    def intake(self, actor: Actor, valid: _ValidRequest, key: str | None, now: datetime) -> _Intake:
        """How a request is counted and stored (the yearly video recap uses it too)."""
        request_hash = valid.request_hash() if key is not None else None

        def new_request(request_id: UUID) -> NewContentRequest:
            return NewContentRequest(
                request_id=request_id,
                tenant_id=actor.tenant_id,
                user_id=actor.user_id,
                type=self.request_type,
                title=valid.title,
                locale=valid.locale,
                format=valid.format,
                workflow_id=self.workflow_id(str(actor.tenant_id), str(request_id)),
                parameters=valid.parameters(),
                from_date=valid.from_date,
                to_date=valid.to_date,
                idempotency_key=key,
                request_hash=request_hash,
            )

        async def check_quota(connection: Any) -> None:
            plan, limit = self.quota(actor.plan)
            window = self.quota_window(now)
            used = await self._count_used(connection, actor.tenant_id, window)
            if used >= limit:
                raise self.quota_exceeded(
                    plan=plan,
                    limit=limit,
                    used=used,
                    resets_at=window.resets_at,
                    retry_after=window.seconds_left(now),
                )

        return _Intake(request_hash=request_hash, new_request=new_request, check_quota=check_quota)

    async def _take(self, actor: Actor, valid: _ValidRequest, key: str | None, now: datetime) -> Submission:
        """Accept a checked request in its own transaction, committed before any workflow is asked."""
        async with self._work(actor.tenant_id) as work:
            return await self._accept(work, actor, key, self.intake(actor, valid, key, now))

    async def _accept(self, work: UnitOfWork, actor: Actor, key: str | None, intake: _Intake) -> Submission:
        """Replay, refuse (quota) or insert, serialised per tenant so the last free slot is taken once."""
        connection = work.connection
        await repository.lock_quota(connection, actor.tenant_id, self.request_type)
        if key is not None:
            earlier = await repository.find_by_idempotency_key(
                connection, actor.tenant_id, actor.user_id, key
            )
            if earlier is not None:
                return self._replay(earlier, intake.request_hash)
        await intake.check_quota(connection)
        record = await repository.insert_request(connection, intake.new_request(uuid.uuid4()))
        if record is not None:
            return Submission(record=record, replayed=False)
        # Only the idempotency key's unique index turns an insert into a no-op: a concurrent
        # request with the same key (of another type, which takes another lock) got there first.
        earlier = None
        if key is not None:
            earlier = await repository.find_by_idempotency_key(
                connection, actor.tenant_id, actor.user_id, key
            )
        if earlier is None:
            raise RuntimeError("the request was neither inserted nor found by its idempotency key")
        return self._replay(earlier, intake.request_hash)

    def _replay(self, earlier: ContentRequestRecord, request_hash: str | None) -> Submission:
        if earlier.type != self.request_type or earlier.request_hash != request_hash:
            raise self.key_reused()
        return Submission(record=earlier, replayed=True)

    async def _count_used(self, connection: Any, tenant_id: UUID, window: QuotaWindow) -> int:
        return await repository.count_requests(
            connection, tenant_id, self.request_type, since=window.starts_at, until=window.resets_at
        )

    async def _fail_unqueued(self, record: ContentRequestRecord, message: str) -> None:
        async with self._work(record.tenant_id) as work:
            await repository.fail_unqueued(
                work.connection, record.request_id, error_message=translate(record.locale, message)
            )

    async def get(self, actor: Actor, request_id: UUID) -> ContentRequestRecord:
        async with self._work(actor.tenant_id) as work:
            return await self._owned(work, actor, request_id)

    async def _owned(self, work: UnitOfWork, actor: Actor, request_id: UUID) -> ContentRequestRecord:
        record = await repository.fetch_request(work.connection, request_id)
        if record is None or record.user_id != actor.user_id or record.type != self.request_type:
            raise self.not_found()
        return record

    async def list_requests(
        self, actor: Actor, filters: RequestFilters, paging: PageParams
    ) -> tuple[list[ContentRequestRecord], int]:
        if filters.created_from and filters.created_to and filters.created_from > filters.created_to:
            raise BadRequestError(
                N_("Some request parameters are invalid."),
                errors=[{"field": "createdTo", "message": N_("Must not be before createdFrom.")}],
            )
        query = RequestQuery(
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            type=self.request_type,
            statuses=_choices(filters.statuses, repository.STATUSES, "status"),
            formats=_choices(filters.formats, self.formats, "format"),
            created_from=filters.created_from,
            created_to=filters.created_to,
            limit=paging.limit,
            offset=paging.offset,
        )
        async with self._work(actor.tenant_id) as work:
            return await repository.list_requests(work.connection, query)

    async def cancel(self, actor: Actor, request_id: UUID) -> ContentRequestRecord:
        """Ask the workflow to stop (it deletes partial files and marks CANCELLED itself).

        When Temporal has no such workflow, nothing else will ever end the request, so it is
        marked CANCELLED here.
        """
        async with self._work(actor.tenant_id) as work:
            record = await self._owned(work, actor, request_id)
            if record.is_terminal:
                raise self.already_finished(record.status)
            noted = await repository.request_cancel(work.connection, request_id)
            if noted is None:
                raise self.already_finished(record.status)
        try:
            running = await self._queue.cancel(noted.workflow_id)
        except QueueUnavailable as exc:
            logger.warning(
                "cancellation not delivered",
                request_id=str(request_id),
                type=self.request_type,
                error=str(exc),
            )
            raise self.cancel_unavailable() from exc
        if running:
            return noted
        async with self._work(actor.tenant_id) as work:
            await repository.mark_cancelled(work.connection, request_id)
            return await self._owned(work, actor, request_id)

    async def download_link(self, actor: Actor, request_id: UUID) -> DownloadLink:
        return await self._ready_link(actor, request_id, self.link_for)

    async def _ready_link(
        self,
        actor: Actor,
        request_id: UUID,
        link_for: Callable[[ContentRequestRecord], DownloadLink | None],
    ) -> DownloadLink:
        """The caller's request's link from `link_for`; 409 (not ready) while there is none."""
        record = await self.get(actor, request_id)
        link = link_for(record)
        if link is None:
            raise self.not_ready(record.status)
        return link

    def link_for(self, record: ContentRequestRecord) -> DownloadLink | None:
        """A fresh signed link to a completed request's file; None before it is completed."""
        return self._signed(record, record.result_key)

    def _signed(self, record: ContentRequestRecord, key: str | None) -> DownloadLink | None:
        if record.status != "COMPLETED" or not key:
            return None
        fallback = translate(record.locale, self.file_fallback_name)
        return sign_download(self._storage, key, download_filename(record.title, key, fallback))


class ReportService(_RequestService):
    request_type = REPORT_REQUEST_TYPE
    formats = REPORT_FORMATS
    file_fallback_name = N_("Report")
    quota_exceeded = QuotaExceededError

    def not_found(self) -> ProblemError:
        return ReportNotFoundError()

    def already_finished(self, status: str) -> ProblemError:
        return ReportAlreadyFinishedError(status)

    def not_ready(self, status: str) -> ProblemError:
        return ReportNotReadyError(status)

    def key_reused(self) -> ProblemError:
        return IdempotencyKeyReusedError()

    def cancel_unavailable(self) -> ProblemError:
        return CancelUnavailableError(retry_after=QUEUE_RETRY_AFTER_SECONDS)

    def workflow_id(self, tenant_id: str, request_id: str) -> str:
        return report_workflow_id(tenant_id, request_id)

    def quota(self, plan: str | None) -> tuple[str, int]:
        quota = report_quota(self._settings, plan)
        return quota.plan, quota.reports_per_month

    def quota_window(self, now: datetime) -> QuotaWindow:
        return month_window(now)

    async def submit(
        self, actor: Actor, draft: ReportDraft, *, idempotency_key: str | None, fallback_locale: str
    ) -> Submission:
        """Accept the request (or replay the one its key names) and start its workflow once committed."""
        now = self._clock()
        report = validate_report(draft, fallback_locale=fallback_locale, now=now)
        key = checked_idempotency_key(idempotency_key)
        submission = await self._take(actor, report, key, now)
        if submission.replayed:
            await self._resume_if_pending(submission.record)
        else:
            await self._start(submission.record)
        return submission

    async def _resume_if_pending(self, record: ContentRequestRecord) -> None:
        """Start a replayed request's workflow again if it never left PENDING.

        The first attempt may have died between its commit and the start; the workflow id
        rejects duplicates, so a run that exists already is left alone.
        """
        if record.status != "PENDING" or record.started_at is not None:
            return
        try:
            await self._queue.start_report(report_job(record))
        except QueueUnavailable as exc:
            logger.warning(
                "replayed report request not restarted", request_id=str(record.request_id), error=str(exc)
            )

    async def _start(self, record: ContentRequestRecord) -> None:
        try:
            await self._queue.start_report(report_job(record))
        except QueueUnavailable as exc:
            logger.warning(
                "report workflow not started; request marked failed",
                request_id=str(record.request_id),
                error=str(exc),
            )
            await self._fail_unqueued(record, QUEUE_UNAVAILABLE_MESSAGE)
            raise QueueUnavailableError(
                str(record.request_id), retry_after=QUEUE_RETRY_AFTER_SECONDS
            ) from exc


class VideoService(_RequestService):
    """Video requests: accepted like reports, but only once their run has counted the period's POCs.

    The YearlyVideo run is started with update-with-start and answers the ``selection`` update;
    an empty period ends the request FAILED (``NO_POCS``, not counted) and the person gets a 422.
    """

    request_type = VIDEO_REQUEST_TYPE
    formats = tuple(VIDEO_FORMATS)
    file_fallback_name = N_("Video")
    quota_exceeded = VideoQuotaExceededError

    def not_found(self) -> ProblemError:
        return VideoNotFoundError()

    def already_finished(self, status: str) -> ProblemError:
        return VideoAlreadyFinishedError(status)

    def not_ready(self, status: str) -> ProblemError:
        return VideoNotReadyError(status)

    def key_reused(self) -> ProblemError:
        return VideoIdempotencyKeyReusedError()

    def cancel_unavailable(self) -> ProblemError:
        return VideoCancelUnavailableError(retry_after=QUEUE_RETRY_AFTER_SECONDS)

    def workflow_id(self, tenant_id: str, request_id: str) -> str:
        return video_workflow_id(tenant_id, request_id)

    def quota(self, plan: str | None) -> tuple[str, int]:
        quota = video_quota(self._settings, plan)
        return quota.plan, quota.videos_per_year

    def quota_window(self, now: datetime) -> QuotaWindow:
        return year_window(now)

    async def submit(
        self, actor: Actor, draft: VideoDraft, *, idempotency_key: str | None, fallback_locale: str
    ) -> Submission:
        now = self._clock()
        video = validate_video(draft, fallback_locale=fallback_locale, now=now)
        key = checked_idempotency_key(idempotency_key)
        submission = await self._take(actor, video, key, now)
        record = submission.record
        if submission.replayed:
            if record.status == "FAILED" and record.error_code == NO_POCS_ERROR:
                raise NoPocsInPeriodError(str(record.request_id))
            if record.status == "PENDING" and record.started_at is None:
                record = await self._select(record, replayed=True)
        else:
            record = await self._select(record, replayed=False)
        return Submission(record=record, replayed=submission.replayed)

    async def request_recap(
        self, actor: Actor, year: int, *, locale: str | None
    ) -> tuple[ContentRequestRecord | None, bool]:
        """The person's recap request of `year` for the yearly schedule: (request, created now).

        Idempotent by the Idempotency-Key ``yearly-recap-{year}`` whatever else changed since
        (the person's language, say); (None, False) when the plan's videos of the year are used.
        The caller starts the run itself, so nothing here talks to Temporal.
        """
        now = self._clock()
        video = validate_video(
            VideoDraft(year=year, locale=locale), fallback_locale=locale or SUPPORTED_LOCALES[0], now=now
        )
        key = yearly_request_idempotency_key(year)
        intake = dataclasses.replace(self.intake(actor, video, None, now), request_hash=None)
        base_request = intake.new_request

        def keyed(request_id: UUID) -> NewContentRequest:
            return dataclasses.replace(base_request(request_id), idempotency_key=key)

        try:
            async with self._work(actor.tenant_id) as work:
                submission = await self._accept(
                    work, actor, key, dataclasses.replace(intake, new_request=keyed)
                )
        except VideoQuotaExceededError:
            return None, False
        return submission.record, not submission.replayed

    async def _select(self, record: ContentRequestRecord, *, replayed: bool) -> ContentRequestRecord:
        """Start the run and wait for its selection; the request as it stands afterwards."""
        try:
            outcome = await self._queue.select_video(video_job(record))
        except QueueUnavailable as exc:
            if replayed:
                logger.warning(
                    "replayed video request not restarted", request_id=str(record.request_id), error=str(exc)
                )
                return record
            logger.warning(
                "video workflow did not answer; request marked failed",
                request_id=str(record.request_id),
                error=str(exc),
            )
            await self._abandon(record)
            raise VideoQueueUnavailableError(
                str(record.request_id), retry_after=QUEUE_RETRY_AFTER_SECONDS
            ) from exc
        empty = outcome is not None and outcome.poc_count == 0 and outcome.status != "CANCELLED"
        if empty and outcome is not None and outcome.error_code in (None, NO_POCS_ERROR):
            async with self._work(record.tenant_id) as work:
                await repository.mark_failed(
                    work.connection,
                    record.request_id,
                    error_code=NO_POCS_ERROR,
                    error_message=translate(record.locale, NO_POCS_MESSAGE),
                )
            raise NoPocsInPeriodError(str(record.request_id))
        async with self._work(record.tenant_id) as work:
            current = await repository.fetch_request(work.connection, record.request_id)
        return current or record

    async def _abandon(self, record: ContentRequestRecord) -> None:
        """FAILED and not counted; a run that did start late is asked to stop, so it never renders."""
        await self._fail_unqueued(record, VIDEO_QUEUE_UNAVAILABLE_MESSAGE)
        with contextlib.suppress(QueueUnavailable):
            await self._queue.cancel(record.workflow_id)

    def thumbnail_link_for(self, record: ContentRequestRecord) -> DownloadLink | None:
        """A fresh signed link to a completed video's thumbnail, when it has one."""
        return self._signed(record, record.thumbnail_key)

    async def thumbnail_link(self, actor: Actor, request_id: UUID) -> DownloadLink:
        return await self._ready_link(actor, request_id, self.thumbnail_link_for)


# -- the yearly recap, started by hand -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecapStart:
    workflow_id: str
    year: int
    tenant_id: UUID | None
    started: bool
    """False when a run with this id was already running (it goes on; nothing new is started)."""


class RecapService:
    """Starting the YearlyRecap run by hand: the platform for any tenant or all, an owner for their own."""

    def __init__(
        self, queue: ContentQueue, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._queue = queue
        self._clock = clock

    async def start(self, actor: Actor, year: int, tenant_id: UUID | None) -> RecapStart:
        platform = "SUPERADMIN" in actor.roles
        if not platform:
            if "OWNER" not in actor.roles or (tenant_id is not None and tenant_id != actor.tenant_id):
                raise RecapForbiddenError()
            tenant_id = actor.tenant_id
        last_year = self._clock().astimezone(UTC).year
        if not MIN_VIDEO_YEAR <= year <= last_year:
            raise ValidationProblem(
                errors=[
                    {
                        "field": "year",
                        "message": N_("Must be between {first} and {last}."),
                        "params": {"first": MIN_VIDEO_YEAR, "last": last_year},
                    }
                ]
            )
        tenant = None if tenant_id is None else str(tenant_id)
        workflow_id = recap_workflow_id(year, tenant)
        recap = RecapInput(year=year, tenant_ids=[] if tenant is None else [tenant])
        try:
            started = await self._queue.start_recap(workflow_id, recap)
        except QueueUnavailable as exc:
            logger.warning("yearly recap not started", workflow_id=workflow_id, error=str(exc))
            raise RecapUnavailableError(retry_after=QUEUE_RETRY_AFTER_SECONDS) from exc
        return RecapStart(workflow_id=workflow_id, year=year, tenant_id=tenant_id, started=started)
