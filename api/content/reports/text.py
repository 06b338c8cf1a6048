"""Words, dates and numbers of one report, in its locale and time zone.

Every sentence comes from the gettext catalog (msgids marked with ``N_`` or passed literally
to ``translate_plural``, so ``pybabel extract`` finds them); dates, months and numbers come
from Babel's CLDR data. The renderers never build a sentence themselves, so a translator sees
every word a person reads. Extract and compile like the other catalogs (see ``babel.cfg``)::

    pybabel extract -F babel.cfg -k N_ -k translate:2 -k translate_plural:2,3 --no-location \
        --sort-output -o api/content/reports/locale/messages.pot api/content/reports
    pybabel update -i api/content/reports/locale/messages.pot -d api/content/reports/locale \
        -D messages --no-fuzzy-matching
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from babel import dates, numbers

from api.common.i18n import N_, format_number, language_tag, translate, translate_plural
from api.content.reports.model import ReportOptions

OTHER_LANGUAGE = "Other"
"""The catalog's name for a language outside its list."""

GROUP_TITLES: tuple[tuple[str, str], ...] = (
    ("language", N_("POCs by language")),
    ("tag", N_("POCs by tag")),
    ("framework", N_("POCs by framework")),
    ("month", N_("POCs by month")),
)
"""Msgids of the section (and sheet) that lists the POCs of each value of a `group_by` field."""

GROUP_COLUMN_TITLES: tuple[tuple[str, str], ...] = (
    ("language", N_("Language")),
    ("tag", N_("Tag")),
    ("framework", N_("Framework")),
    ("month", N_("Month")),
)


class ReportText:
    """The locale-bound words of one report; cheap to build, one per render."""

    def __init__(self, options: ReportOptions) -> None:
        self.options = options
        self.locale = options.locale
        self.zone = options.zone

    def __call__(self, msgid: str, **params: object) -> str:
        return translate(self.locale, msgid, **params)

    @property
    def language_tag(self) -> str:
        return language_tag(self.locale)

    def poc_count(self, count: int) -> str:
        return translate_plural(
            self.locale, "{amount} POC", "{amount} POCs", count, amount=self.number(count)
        )

    def number(self, value: int | float | Decimal) -> str:
        return format_number(value, self.locale)

    def percent(self, part: int, whole: int) -> str:
        return numbers.format_percent(part / whole if whole else 0, format="#,##0.0%", locale=self.locale)

    def decimal(self, value: float, digits: int = 2) -> str:
        """Fixed decimals with the locale's separator and no grouping: what spreadsheets parse back."""
        return numbers.format_decimal(value, format="0." + "0" * digits, locale=self.locale)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def date(self, moment: datetime) -> str:
        """A day as people of the locale write it in prose ("1 de mar. de 2025", "Mar 1, 2025")."""
        return dates.format_date(self.local(moment).date(), format="medium", locale=self.locale)

    def short_date(self, moment: datetime) -> str:
        """A day for a table column ("01/03/2025", "3/1/2025")."""
        return _skeleton_date(self.local(moment).date(), "yMd", self.locale)

    def datetime(self, moment: datetime) -> str:
        """Day in the medium style and time to the minute, joined by the locale's own pattern."""
        local = self.local(moment)
        day = dates.format_date(local.date(), format="medium", locale=self.locale)
        time_of_day = dates.format_time(local, format="short", tzinfo=self.zone, locale=self.locale)
        pattern = str(dates.get_datetime_format("medium", locale=self.locale))
        return pattern.replace("{1}", day).replace("{0}", time_of_day)

    def month(self, key: str) -> str:
        """``2025-03`` as "mar. de 2025" / "Mar 2025"."""
        return _skeleton_date(_month_start(key), "yMMM", self.locale)

    def month_abbreviation(self, key: str) -> str:
        return dates.format_date(_month_start(key), format="MMM", locale=self.locale)

    def language(self, name: str | None) -> str:
        if name is None:
            return self(N_("No language"))
        if name == OTHER_LANGUAGE:
            return self(N_("Other language"))
        return name

    def label(self, field: str, label: str | None) -> str:
        """A group's or tally's name: a language, tag, framework or month, or the "none" bucket."""
        if field == "language":
            return self.language(label)
        if field == "month":
            return self.month(label) if label else ""
        if label is None:
            return self(N_("No tags")) if field == "tag" else self(N_("No framework"))
        return label

    def yes_no(self, value: bool) -> str:
        return self(N_("Yes")) if value else self(N_("No"))

    def visibility(self, is_public: bool) -> str:
        return self(N_("Public")) if is_public else self(N_("Private"))

    def group_title(self, field: str) -> str:
        return self(dict(GROUP_TITLES)[field])

    def group_column(self, field: str) -> str:
        return self(dict(GROUP_COLUMN_TITLES)[field])

    def period(self) -> str:
        """The period the person asked for; its end is exclusive, so the last day shown is the one before."""
        start, end = self.options.period_from, self.options.period_to
        if start and end:
            return self(N_("{start} to {end}"), start=self.date(start), end=self.date(_last_instant(end)))
        if start:
            return self(N_("Since {start}"), start=self.date(start))
        if end:
            return self(N_("Until {end}"), end=self.date(_last_instant(end)))
        return self(N_("All POCs up to {end}"), end=self.date(self.options.generated_at))

    def owner(self) -> str:
        email = self.options.owner_email
        return f"{self.options.owner_name} <{email}>" if email else self.options.owner_name

    def generated_moment(self) -> str:
        """When the report was made, in its zone, naming the zone (a reader may live elsewhere)."""
        return f"{self.datetime(self.options.generated_at)} ({self.zone.key})"

    def generated(self) -> str:
        return self(N_("Generated on {moment}"), moment=self.generated_moment())

    def tag_filters(self) -> str | None:
        """Which tags the selection kept or left out, or None when it filtered none."""
        parts: list[str] = []
        if self.options.include_tags:
            parts.append(self(N_("With any of the tags: {tags}"), tags=", ".join(self.options.include_tags)))
        if self.options.exclude_tags:
            parts.append(self(N_("Without the tags: {tags}"), tags=", ".join(self.options.exclude_tags)))
        return "; ".join(parts) or None


def _last_instant(exclusive_end: datetime) -> datetime:
    return exclusive_end - timedelta(microseconds=1)


def _month_start(key: str) -> date:
    return date(int(key[:4]), int(key[5:7]), 1)


@lru_cache(maxsize=4096)
def _skeleton_date(day: date, skeleton: str, locale: str) -> str:
    """Cached: a 1,000-row table repeats a few hundred days, and CLDR pattern lookup is the slow part."""
    return dates.format_skeleton(skeleton, day, locale=locale)
