"""Words, dates and numbers of one video, in its locale and time zone.

Built on the reports' `ReportText` (numbers, months, languages, POC counts come out exactly
as in the reports) and extended with what only the video says. Every sentence comes from the
gettext catalog of this package; extract it like the others, adding the ``plural`` method of
`VideoText` as a keyword::

    pybabel extract -F babel.cfg -k N_ -k translate:2 -k translate_plural:2,3 -k plural:1,2 \
        --no-location --sort-output -o api/content/video/locale/messages.pot api/content/video
    pybabel update -i api/content/video/locale/messages.pot -d api/content/video/locale \
        -D messages --no-fuzzy-matching
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from babel import Locale, dates

from api.common.i18n import N_, translate, translate_plural
from api.content.reports.model import clean_text
from api.content.reports.text import ReportText
from api.content.video.model import VideoOptions

TIER_NAMES: dict[str, str] = {
    "spark": N_("Spark"),
    "rocket": N_("Rocket"),
    "comet": N_("Comet"),
    "star": N_("Star"),
    "supernova": N_("Supernova"),
}
"""Msgids of the tiers, from the quietest year to the busiest (`timeline.TIERS` holds the limits)."""

TIER_TAGLINES: dict[str, str] = {
    "spark": N_("Every great builder starts with a spark."),
    "rocket": N_("Your ideas left the launch pad."),
    "comet": N_("About one POC a month, and a bright trail behind it."),
    "star": N_("A new idea every couple of weeks."),
    "supernova": N_("A POC a week or more: pure energy."),
}


class VideoText:
    """The locale-bound words of one video; cheap to build, one per scene."""

    def __init__(self, options: VideoOptions) -> None:
        self.options = options
        self.locale = options.locale
        self.zone = options.zone
        self.report = ReportText(options.report_options)

    def __call__(self, msgid: str, **params: object) -> str:
        return translate(self.locale, msgid, **params)

    def title(self) -> str:
        """The person's title for the video, as printed (composed accents, no control characters)."""
        return " ".join(clean_text(self.options.title).split())

    def owner(self) -> str:
        return " ".join(clean_text(self.options.owner_name).split())

    def plural(self, singular: str, plural: str, count: int, **params: object) -> str:
        """`translate_plural` with ``{amount}``, the count as the locale writes numbers."""
        return translate_plural(self.locale, singular, plural, count, amount=self.number(count), **params)

    def number(self, value: int | float) -> str:
        return self.report.number(value)

    def percent(self, part: int, whole: int) -> str:
        return self.report.percent(part, whole)

    def poc_count(self, count: int) -> str:
        return self.report.poc_count(count)

    def language(self, name: str | None) -> str:
        return self.report.language(name)

    def date(self, moment: datetime) -> str:
        return self.report.date(moment)

    def month(self, key: str) -> str:
        """``2025-03`` as "mar. de 2025" / "Mar 2025"."""
        return self.report.month(key)

    def month_abbreviation(self, key: str) -> str:
        return self.report.month_abbreviation(key)

    def month_name(self, key: str) -> str:
        """The month alone, as a headline: "Março" / "March"; with its year when the period is not one."""
        first = date(int(key[:4]), int(key[5:7]), 1)
        if self.options.year is not None:
            return _capitalised(dates.format_date(first, "LLLL", locale=self.locale))
        return _capitalised(dates.format_skeleton("yMMMM", first, locale=self.locale))

    def period(self) -> str:
        """The year ("2025"), or the first and last months of the period joined by an en dash."""
        if self.options.year is not None:
            return str(self.options.year)
        start = self.options.start.astimezone(self.zone)
        last = (self.options.end - timedelta(microseconds=1)).astimezone(self.zone)
        first_month = f"{start.year:04d}-{start.month:02d}"
        last_month = f"{last.year:04d}-{last.month:02d}"
        if first_month == last_month:
            return self.month(first_month)
        return f"{self.month(first_month)} \u2013 {self.month(last_month)}"

    def weekday_order(self) -> list[int]:
        """ISO weekday indexes (0 = Monday) in the order the locale's calendars print them."""
        first = _first_week_day(self.locale)
        return [(first + offset) % 7 for offset in range(7)]

    def weekday(self, index: int) -> str:
        return _capitalised(
            str(dates.get_day_names("wide", context="stand-alone", locale=self.locale)[index])
        )

    def weekday_abbreviation(self, index: int) -> str:
        names = dates.get_day_names("abbreviated", context="stand-alone", locale=self.locale)
        return _capitalised(str(names[index]))

    def hour(self, hour: int) -> str:
        """The hour as the locale reads a clock ("22:00" / "10:00 PM")."""
        return dates.format_time(time(hour, 0), format="short", locale=self.locale)

    def hour_label(self, hour: int) -> str:
        """A short axis label ("18" / "6 PM")."""
        skeleton = "h" if _uses_twelve_hours(self.locale) else "H"
        return dates.format_skeleton(skeleton, datetime(2000, 1, 1, hour), locale=self.locale)

    def tier(self, tier: str) -> str:
        return self(TIER_NAMES[tier])

    def tier_tagline(self, tier: str) -> str:
        return self(TIER_TAGLINES[tier])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


@lru_cache(maxsize=8)
def _first_week_day(locale: str) -> int:
    return int(Locale.parse(locale).first_week_day)


@lru_cache(maxsize=8)
def _uses_twelve_hours(locale: str) -> bool:
    return "a" in str(Locale.parse(locale).time_formats["short"].pattern)
