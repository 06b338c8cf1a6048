"""What a report is asked to be: the options every renderer reads, checked once.

Renderers are pure functions of (POCs, summary, options): they read no clock, no database and
no request, so the same inputs give the same file and a retried activity renders it again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.common.i18n import SUPPORTED_LOCALES, normalize_locale
from workflows.report_generation_types import GROUP_BY_FIELDS, REPORT_FORMATS, ReportJob, ReportPoc

PRODUCT_NAME = "Mr Bill"
"""Creator of every file: a name, not a sentence, so it is not translated."""

DEFAULT_TOP_TAGS = 10


class InvalidReportOptionsError(ValueError):
    """The options cannot describe a report; retrying the same request would fail the same way."""


@dataclass(frozen=True)
class ReportOptions:
    title: str
    owner_name: str
    owner_email: str | None
    format: str
    """``pdf``, ``xlsx`` or ``csv`` (`REPORT_FORMATS`)."""
    locale: str
    """``pt_BR`` or ``en``: words, dates and numbers of the file."""
    time_zone: str
    """IANA name; months and dates are counted and printed there."""
    generated_at: datetime
    """Aware; printed on the cover and stored as the files' creation date."""
    period_from: datetime | None = None
    period_to: datetime | None = None
    """Exclusive."""
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    """Subset of `GROUP_BY_FIELDS`, in the order the person asked for."""
    top_tags: int = DEFAULT_TOP_TAGS
    """How many tags the summary ranks and the charts show."""

    def __post_init__(self) -> None:
        if self.format not in REPORT_FORMATS:
            raise InvalidReportOptionsError(f"unknown report format {self.format!r}")
        if self.locale not in SUPPORTED_LOCALES:
            raise InvalidReportOptionsError(f"unsupported locale {self.locale!r}")
        unknown = [field for field in self.group_by if field not in GROUP_BY_FIELDS]
        if unknown or len(set(self.group_by)) != len(self.group_by):
            raise InvalidReportOptionsError(f"group_by must be distinct fields of {GROUP_BY_FIELDS}")
        for name, moment in (
            ("generated_at", self.generated_at),
            ("period_from", self.period_from),
            ("period_to", self.period_to),
        ):
            if moment is not None and moment.utcoffset() is None:
                raise InvalidReportOptionsError(f"{name} must be an aware datetime")
        if self.period_from and self.period_to and self.period_from >= self.period_to:
            raise InvalidReportOptionsError("period_from must be before period_to")
        if self.top_tags < 1:
            raise InvalidReportOptionsError("top_tags must be positive")
        zone_info(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return zone_info(self.time_zone)

    @classmethod
    def from_job(
        cls, job: ReportJob, *, owner_name: str, owner_email: str | None, generated_at: datetime
    ) -> ReportOptions:
        """The options of a workflow's job; the owner comes from identity, the clock from the caller."""
        return cls(
            title=job.title,
            owner_name=owner_name,
            owner_email=owner_email,
            format=job.format,
            locale=normalize_locale(job.locale) or job.locale,
            time_zone=job.time_zone,
            generated_at=generated_at,
            period_from=parse_instant(job.from_date) if job.from_date else None,
            period_to=parse_instant(job.to_date) if job.to_date else None,
            include_tags=tuple(job.include_tags),
            exclude_tags=tuple(job.exclude_tags),
            group_by=tuple(job.group_by),
        )


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidReportOptionsError(f"unknown time zone {name!r}") from error


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC, as the catalog stores them."""
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


def poc_created_at(poc: ReportPoc) -> datetime:
    return parse_instant(poc.created_at)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Composed Unicode without control characters: what every renderer prints of user text."""
    return _CONTROL_CHARACTERS.sub("", unicodedata.normalize("NFC", text))


def label_key(text: str) -> str:
    """Lowercase, accents and repeated spaces removed: "Programação" and "programacao" are one tag.

    The same rule as the catalog's tag keys, so a report counts what the catalog matches.
    """
    decomposed = unicodedata.normalize("NFKD", " ".join(text.split()))
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", without_marks).casefold()


def is_web_link(url: str) -> bool:
    """Only http(s) addresses become clickable: a ``javascript:`` or ``file:`` link never reaches a file."""
    return url.lower().startswith(("https://", "http://"))
