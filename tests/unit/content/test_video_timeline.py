"""The timeline planner: pure, deterministic, JSON-serialisable, and 30-90 s whatever the year holds."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api.content.reports.aggregate import summarise
from api.content.video.model import FPS
from api.content.video.timeline import (
    AUTO_MAX_SECONDS,
    AUTO_MIN_SECONDS,
    DROP_ORDER,
    MAX_HIGHLIGHTS,
    MORE_LIMIT,
    ActivityPayload,
    CountPayload,
    LanguagesPayload,
    MorePayload,
    NothingToPlanError,
    OutroPayload,
    PocPayload,
    TimelinePlan,
    decode_plan,
    encode_plan,
    excerpt,
    notable_pocs,
    plan_timeline,
    scene_thumbnail_ids,
    tier_for,
)
from tests.unit.content.video_samples import YEAR, options, poc_id, year_pocs

pytestmark = pytest.mark.unit


def kinds(plan: TimelinePlan) -> list[str]:
    return [scene.kind for scene in plan.scenes]


def test_the_same_pocs_in_any_order_give_the_same_plan_bytes() -> None:
    pocs = year_pocs(30)
    shuffled = list(pocs)
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a test's order, not a secret

    first = plan_timeline(pocs, options(), thumbnails={poc_id(3)})
    second = plan_timeline(shuffled, options(), thumbnails={poc_id(3)})

    assert encode_plan(first) == encode_plan(second)


def test_the_plan_travels_as_json_and_comes_back_equal() -> None:
    plan = plan_timeline(year_pocs(20), options(), thumbnails={poc_id(0)})

    data = encode_plan(plan)
    document = json.loads(data)

    assert decode_plan(data) == plan
    assert document["frames"] == plan.frames
    for scene, raw in zip(plan.scenes, document["scenes"], strict=True):
        assert set(raw) >= {"index", "kind", "duration", "payload"}
        assert raw["kind"] == raw["payload"]["kind"] == scene.kind
        assert raw["index"] == scene.index


@pytest.mark.parametrize("count", [1, 3, 12, 50, 400])
def test_an_automatic_plan_lasts_30_to_90_seconds_in_whole_frames(count: int) -> None:
    plan = plan_timeline(year_pocs(count), options())

    assert AUTO_MIN_SECONDS <= plan.duration <= AUTO_MAX_SECONDS
    assert plan.frames == sum(scene.frames for scene in plan.scenes)
    assert plan.duration == pytest.approx(plan.frames / FPS)
    assert [scene.index for scene in plan.scenes] == list(range(len(plan.scenes)))
    for scene in plan.scenes:
        assert scene.frames >= FPS
        assert scene.duration == pytest.approx(scene.frames / FPS)
    assert kinds(plan)[0] == "intro"
    assert kinds(plan)[-1] == "outro"


def test_a_small_year_shows_every_poc_and_every_stats_scene_it_can() -> None:
    plan = plan_timeline(year_pocs(6), options())

    pocs = [scene.payload for scene in plan.scenes if isinstance(scene.payload, PocPayload)]
    assert len(pocs) == 6
    assert [payload.number for payload in pocs] == [1, 2, 3, 4, 5, 6]
    assert "more" not in kinds(plan)
    assert kinds(plan) == [
        "intro",
        "count",
        "languages",
        "busiest-month",
        "activity",
        "tags",
        "frameworks",
        *["poc"] * 6,
        "timeline",
        "outro",
    ]


def test_a_long_year_highlights_the_notable_pocs_and_lists_the_rest_on_one_scene() -> None:
    pocs = year_pocs(400)
    plan = plan_timeline(pocs, options())

    highlights = [scene.payload for scene in plan.scenes if isinstance(scene.payload, PocPayload)]
    more = next(scene.payload for scene in plan.scenes if isinstance(scene.payload, MorePayload))
    assert len(highlights) <= MAX_HIGHLIGHTS
    assert more.count == 400 - len(highlights)
    assert len(more.pocs) == MORE_LIMIT
    highlighted = {payload.name for payload in highlights}
    assert not highlighted & {item.name for item in more.pocs}
    assert len(highlighted) == len(highlights)
    dates = [payload.created_at for payload in highlights]
    assert dates == sorted(dates), "highlights play oldest first"


def test_an_explicit_target_is_met_to_the_frame() -> None:
    plan = plan_timeline(year_pocs(50), options(), target_seconds=60)

    assert plan.frames == 60 * FPS
    assert plan.duration == 60.0


def test_a_short_target_drops_the_least_telling_scenes_first() -> None:
    plan = plan_timeline(year_pocs(3), options(), target_seconds=8)

    kept = set(kinds(plan))
    dropped = [kind for kind in DROP_ORDER if kind not in kept]
    assert dropped == list(DROP_ORDER[: len(dropped)])
    assert kinds(plan)[0] == "intro"
    assert kinds(plan)[-1] == "outro"
    assert "poc" in kept
    assert plan.duration == 8.0


def test_transitions_blend_into_every_scene_but_the_first_and_only_the_last_fades_out() -> None:
    plan = plan_timeline(year_pocs(10), options())

    assert plan.scenes[0].transition_frames == 0
    assert all(0 < scene.transition_frames <= scene.frames // 3 for scene in plan.scenes[1:])
    assert [scene.fade_out_frames > 0 for scene in plan.scenes] == [False] * (len(plan.scenes) - 1) + [True]


def test_no_pocs_is_no_video_and_an_impossible_target_is_refused() -> None:
    with pytest.raises(NothingToPlanError):
        plan_timeline([], options())
    with pytest.raises(ValueError, match="target_seconds"):
        plan_timeline(year_pocs(3), options(), target_seconds=1)
    with pytest.raises(ValueError, match="target_seconds"):
        plan_timeline(year_pocs(3), options(), target_seconds=91)


def test_stats_are_the_reports_figures() -> None:
    pocs = year_pocs(40)
    video_options = options()
    plan = plan_timeline(pocs, video_options)
    summary = summarise(pocs, video_options.report_options)

    count = next(scene.payload for scene in plan.scenes if isinstance(scene.payload, CountPayload))
    languages = next(scene.payload for scene in plan.scenes if isinstance(scene.payload, LanguagesPayload))
    assert count.poc_count == summary.poc_count == 40
    assert count.public_count == summary.public_count
    assert count.tag_count == summary.tag_count
    assert languages.languages == summary.languages[:5]
    assert len(summary.months) == 12, "a calendar year lists its twelve months"


def test_weekdays_and_hours_are_counted_in_the_video_time_zone() -> None:
    monday_night_utc = replace(year_pocs(1)[0], created_at="2025-03-03T02:30:00+00:00")
    pocs = [monday_night_utc, *year_pocs(4)[1:]]
    plan = plan_timeline(pocs, options(time_zone="America/Sao_Paulo"))

    activity = next(scene.payload for scene in plan.scenes if isinstance(scene.payload, ActivityPayload))
    assert sum(activity.weekdays) == 4
    assert activity.hours is not None
    assert activity.hours[23] == 1, "02:30 UTC on a Monday is 23:30 on Sunday in São Paulo"
    assert activity.weekdays[6] >= 1


def test_dates_without_times_give_no_hour_chart() -> None:
    midnight = [
        replace(poc, created_at=f"2025-{month:02d}-10T03:00:00+00:00")
        for month, poc in enumerate(year_pocs(5), start=2)
    ]
    plan = plan_timeline(midnight, options(time_zone="America/Sao_Paulo"))

    activity = next(scene.payload for scene in plan.scenes if isinstance(scene.payload, ActivityPayload))
    assert activity.hours is None
    assert activity.top_hour is None


def test_notable_pocs_prefer_pictures_and_descriptions_and_spread_over_months() -> None:
    pocs = year_pocs(24)
    with_picture = poc_id(17)

    picked = notable_pocs(pocs, 6, options(), thumbnails={with_picture})

    assert with_picture in {poc.poc_id for poc in picked}
    assert all(poc.description for poc in picked)
    months = {poc.created_at[:7] for poc in picked}
    assert len(months) == 6, "one highlight per month before a second one in any month"


@pytest.mark.parametrize(
    ("count", "tier"), [(1, "spark"), (5, "rocket"), (12, "comet"), (30, "star"), (50, "supernova")]
)
def test_the_tier_follows_the_pocs_per_year(count: int, tier: str) -> None:
    assert tier_for(count, options()) == tier


def test_a_half_year_period_is_scaled_to_a_year_for_its_tier() -> None:
    half = options(
        year=None,
        period_from=datetime(YEAR, 1, 1, tzinfo=UTC),
        period_to=datetime(YEAR, 7, 1, tzinfo=UTC),
    )

    assert tier_for(6, half) == "comet"
    plan = plan_timeline(year_pocs(6, YEAR), half)
    outro = plan.scenes[-1].payload
    assert isinstance(outro, OutroPayload)
    assert outro.next_year is None


def test_excerpts_cut_at_a_word_with_an_ellipsis() -> None:
    text = "Uma prova de conceito " * 20

    cut = excerpt(text, 60)

    assert cut is not None
    assert len(cut) <= 60
    assert cut.endswith("…")
    assert not cut[:-1].endswith(" ")
    assert excerpt("   \n ") is None
    assert excerpt("Curta e direta.") == "Curta e direta."


def test_a_scene_needs_its_own_picture_and_the_previous_scenes() -> None:
    pocs = year_pocs(4)
    thumbnails = {poc_id(0), poc_id(1)}
    plan = plan_timeline(pocs, options(), thumbnails=thumbnails)
    poc_indexes = [scene.index for scene in plan.scenes if isinstance(scene.payload, PocPayload)]

    first, second = poc_indexes[0], poc_indexes[1]
    assert scene_thumbnail_ids(plan, first - 1) == []
    assert scene_thumbnail_ids(plan, first) == [poc_id(0)]
    assert scene_thumbnail_ids(plan, second) == [poc_id(0), poc_id(1)]
    assert scene_thumbnail_ids(plan, second + 1) == [poc_id(1)]
