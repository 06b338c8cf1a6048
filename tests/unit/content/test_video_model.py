"""Video options, formats and themes: what a request may ask for, checked once."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from api.common.i18n import translate
from api.content.video.model import VIDEO_FORMATS, InvalidVideoOptionsError, VideoOptions
from api.content.video.scenes import NATIVE_TRANSITIONS
from api.content.video.themes import LANGUAGE_COLORS, THEMES, language_color, readable_ink
from tests.unit.content.video_samples import options

pytestmark = pytest.mark.unit

XFADE_TRANSITIONS = {"wipeleft", "wiperight", "wipeup", "wipedown", "circleopen", "dissolve", "pixelize"}


def test_the_formats_people_ask_for() -> None:
    sizes = {name: (value.width, value.height, value.orientation) for name, value in VIDEO_FORMATS.items()}

    assert sizes == {
        "square": (1080, 1080, "square"),
        "landscape-720": (1280, 720, "landscape"),
        "landscape-1080": (1920, 1080, "landscape"),
        "story": (1080, 1920, "portrait"),
    }


def test_at_least_three_distinct_themes_named_in_both_locales() -> None:
    assert len(THEMES) >= 3
    backgrounds = {theme.background for theme in THEMES.values()}
    assert len(backgrounds) == len(THEMES)
    for name, theme in THEMES.items():
        assert theme.name == name
        assert translate("pt_BR", theme.label)
        assert theme.transitions
        assert set(theme.transitions) <= NATIVE_TRANSITIONS | XFADE_TRANSITIONS
        assert theme.decoration in {"orbs", "grid", "rays", "scanlines"}
    assert {translate("pt_BR", theme.label) for theme in THEMES.values()} != {
        theme.label for theme in THEMES.values()
    }


def test_languages_keep_their_colours_and_others_get_a_stable_one() -> None:
    aurora = THEMES["aurora"]

    assert language_color("Python", aurora) == LANGUAGE_COLORS["python"]
    assert language_color("Brainfuck", aurora) == language_color("brainfuck", aurora)
    assert language_color("Brainfuck", aurora) in aurora.palette
    assert language_color(None, aurora) == aurora.muted
    assert readable_ink((250, 250, 250)) == (17, 17, 17)
    assert readable_ink((20, 20, 60)) == (255, 255, 255)


def test_a_year_is_counted_in_the_video_time_zone() -> None:
    video = options(year=2025, time_zone="America/Sao_Paulo")
    zone = ZoneInfo("America/Sao_Paulo")

    assert video.start == datetime(2025, 1, 1, tzinfo=zone)
    assert video.end == datetime(2026, 1, 1, tzinfo=zone)
    report = video.report_options
    assert (report.period_from, report.period_to, report.locale) == (video.start, video.end, "pt_BR")


def test_a_size_overrides_the_format_and_keeps_its_name() -> None:
    small = options(format="story", size=(270, 480))

    assert (small.video_format.name, small.video_format.width, small.video_format.height) == (
        "story",
        270,
        480,
    )
    assert small.video_format.orientation == "portrait"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "vertical"}, "format"),
        ({"style": "neon"}, "style"),
        ({"music_track": "radio-hit"}, "music"),
        ({"locale": "fr"}, "locale"),
        ({"time_zone": "Mars/Olympus"}, "time zone"),
        ({"year": None}, "year"),
        ({"period_from": datetime(2025, 1, 1, tzinfo=UTC)}, "not both"),
        ({"size": (641, 360)}, "even"),
        ({"size": (64, 64)}, "between"),
    ],
)
def test_options_that_describe_no_video_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidVideoOptionsError, match=message):
        options(**overrides)


def test_a_period_needs_aware_ordered_ends() -> None:
    with pytest.raises(InvalidVideoOptionsError, match="aware"):
        VideoOptions(
            title="t", owner_name="o", period_from=datetime(2025, 1, 1), period_to=datetime(2025, 6, 1)
        )
    with pytest.raises(InvalidVideoOptionsError, match="before"):
        VideoOptions(
            title="t",
            owner_name="o",
            period_from=datetime(2025, 6, 1, tzinfo=UTC),
            period_to=datetime(2025, 1, 1, tzinfo=UTC),
        )
