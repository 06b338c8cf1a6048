"""What a recap video is asked to be: the options every step reads, checked once.

The period is a calendar year in the person's time zone, or an explicit [from, to) range. The
options also adapt themselves to the report package's `ReportOptions`, so the video counts its
figures with the same `aggregate.summarise` and prints dates and numbers with the same
`ReportText` as the reports do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import cast
from zoneinfo import ZoneInfo

from api.common.i18n import SUPPORTED_LOCALES
from api.content.reports.model import InvalidReportOptionsError, ReportOptions, zone_info
from api.content.video.music import TRACKS
from api.content.video.themes import THEMES

FPS = 30
"""Every format plays at 30 frames per second."""

TOP_TAGS = 8
"""How many tags the stats count and the tags scene can show."""


class InvalidVideoOptionsError(ValueError):
    """The options cannot describe a video; retrying the same request would fail the same way."""


@dataclass(frozen=True)
class VideoFormat:
    name: str
    width: int
    height: int

    @property
    def orientation(self) -> str:
        """``landscape``, ``portrait`` or ``square``: scenes lay themselves out by it."""
        if self.width >= self.height * 1.2:
            return "landscape"
        if self.height >= self.width * 1.2:
            return "portrait"
        return "square"


VIDEO_FORMATS: dict[str, VideoFormat] = {
    "square": VideoFormat("square", 1080, 1080),
    "landscape-720": VideoFormat("landscape-720", 1280, 720),
    "landscape-1080": VideoFormat("landscape-1080", 1920, 1080),
    "story": VideoFormat("story", 1080, 1920),
}
"""The formats a person can ask for: square posts, 16:9 players and vertical stories."""

MIN_SIDE = 128
MAX_SIDE = 3840


@dataclass(frozen=True)
class VideoOptions:
    title: str
    owner_name: str
    format: str = "square"
    """A key of `VIDEO_FORMATS`."""
    style: str = "aurora"
    """A key of `themes.THEMES`."""
    music_track: str | None = "bright"
    """A key of `music.TRACKS`, or None for a silent soundtrack."""
    locale: str = "pt_BR"
    time_zone: str = "America/Sao_Paulo"
    """IANA name: months, weekdays and hours are counted and printed there."""
    year: int | None = None
    """A calendar year in `time_zone`; or give `period_from` and `period_to` instead."""
    period_from: datetime | None = None
    period_to: datetime | None = None
    """Exclusive."""
    size: tuple[int, int] | None = None
    """Width and height overriding the format's (previews and tests); the layout follows them."""

    def __post_init__(self) -> None:
        if self.format not in VIDEO_FORMATS:
            raise InvalidVideoOptionsError(f"unknown video format {self.format!r}")
        if self.locale not in SUPPORTED_LOCALES:
            raise InvalidVideoOptionsError(f"unsupported locale {self.locale!r}")
        if self.style not in THEMES:
            raise InvalidVideoOptionsError(f"unknown style {self.style!r}")
        if self.music_track is not None and self.music_track not in TRACKS:
            raise InvalidVideoOptionsError(f"unknown music track {self.music_track!r}")
        try:
            zone_info(self.time_zone)
        except InvalidReportOptionsError as error:
            raise InvalidVideoOptionsError(str(error)) from error
        if self.year is not None:
            if self.period_from is not None or self.period_to is not None:
                raise InvalidVideoOptionsError("give a year or a period, not both")
            if not 1970 <= self.year <= 9998:
                raise InvalidVideoOptionsError("year out of range")
        else:
            if self.period_from is None or self.period_to is None:
                raise InvalidVideoOptionsError("give a year, or both period_from and period_to")
            if self.period_from.utcoffset() is None or self.period_to.utcoffset() is None:
                raise InvalidVideoOptionsError("the period's ends must be aware datetimes")
            if self.period_from >= self.period_to:
                raise InvalidVideoOptionsError("period_from must be before period_to")
        if self.size is not None:
            width, height = self.size
            if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                raise InvalidVideoOptionsError(f"each side must be between {MIN_SIDE} and {MAX_SIDE} pixels")
            if width % 2 or height % 2:
                raise InvalidVideoOptionsError("width and height must be even (yuv420p)")

    @property
    def video_format(self) -> VideoFormat:
        """The format, resized by `size` when it is given."""
        base = VIDEO_FORMATS[self.format]
        if self.size is None:
            return base
        return VideoFormat(base.name, self.size[0], self.size[1])

    @property
    def zone(self) -> ZoneInfo:
        return zone_info(self.time_zone)

    @property
    def start(self) -> datetime:
        """First instant of the period (inclusive)."""
        if self.period_from is not None:
            return self.period_from
        return datetime(cast(int, self.year), 1, 1, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """End of the period (exclusive)."""
        if self.period_to is not None:
            return self.period_to
        return datetime(cast(int, self.year) + 1, 1, 1, tzinfo=self.zone)

    @cached_property
    def report_options(self) -> ReportOptions:
        """The same period, zone and locale as report options: what `summarise` and `ReportText` read.

        A report format is required there but never read by either; the end of the period
        stands for the generation moment, so the plan depends on the request alone.
        """
        return ReportOptions(
            title=self.title,
            owner_name=self.owner_name,
            owner_email=None,
            format="pdf",
            locale=self.locale,
            time_zone=self.time_zone,
            generated_at=self.end,
            period_from=self.start,
            period_to=self.end,
            top_tags=TOP_TAGS,
        )
