"""The timeline of a recap video: which scenes, in which order, for how long, showing what.

`plan_timeline` is pure and deterministic: the same POCs and options give the same plan, so a
retried planning activity writes the same JSON and every scene activity renders from it. The
plan holds data, not words (counts, keys, names, ISO dates): scenes choose the words in the
video's locale when they draw.

The length follows the person's year. A few POCs give a short video of every stats scene and
every POC; a long year keeps the stats and highlights its most notable POCs (a thumbnail, a
description, tags, frameworks; spread over the months), lists the rest on one scene, and stays
within 30-90 s. An explicit target (a preview, a benchmark) drops the least telling scenes
first when it is too short for all of them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import msgspec

from api.content.reports.aggregate import (
    MonthTally,
    ReportSummary,
    Tally,
    month_key,
    ordered_pocs,
    summarise,
)
from api.content.reports.model import clean_text, label_key, poc_created_at
from api.content.video.model import FPS, VideoOptions
from workflows.report_generation_types import ReportPoc

PLAN_VERSION = 1
"""Bumped when a plan of the same inputs would change, so stored scenes of an old plan are not reused."""

AUTO_MIN_SECONDS = 30.0
AUTO_MAX_SECONDS = 90.0
MIN_TARGET_SECONDS = 3.0
MAX_TARGET_SECONDS = 90.0
MAX_HIGHLIGHTS = 12
"""POCs with a scene of their own in an automatic plan; the rest share the "more" scene."""
MIN_HIGHLIGHTS = 3
MORE_LIMIT = 40
"""Names the "more" scene carries; it says how many others there are."""
EXCERPT_CHARACTERS = 180
POC_TAGS = 4
POC_FRAMEWORKS = 3

TRANSITION_FRAMES = 15
"""Half a second of transition at the start of every scene but the first."""
FADE_OUT_FRAMES = 18
MIN_SCENE_FRAMES = FPS

SCENE_SECONDS: dict[str, float] = {
    "intro": 3.5,
    "count": 3.5,
    "languages": 4.0,
    "busiest-month": 3.0,
    "activity": 4.0,
    "tags": 3.5,
    "frameworks": 3.0,
    "poc": 3.2,
    "more": 4.0,
    "timeline": 4.5,
    "outro": 4.5,
}
"""The natural length of each kind of scene; a plan scales them all by one factor."""

STATS_KINDS: tuple[str, ...] = ("count", "languages", "busiest-month", "activity", "tags", "frameworks")
DROP_ORDER: tuple[str, ...] = (
    "frameworks",
    "busiest-month",
    "activity",
    "tags",
    "more",
    "languages",
    "timeline",
    "count",
)
"""What a short target gives up first: the timeline repeats the busiest month, and so on."""

SCALE_MIN = 0.85
SCALE_MAX = 1.25
"""Scenes may run this much shorter or longer than natural before highlights are added or removed."""
SCALE_FLOOR = 0.5
"""Below this, scenes are dropped rather than rushed."""

TIERS: tuple[tuple[str, float], ...] = (
    ("spark", 0.0),
    ("rocket", 4.0),
    ("comet", 12.0),
    ("star", 24.0),
    ("supernova", 48.0),
)
"""Tier and the POCs per year (the period's count scaled to a year) from which it applies."""


class NothingToPlanError(ValueError):
    """No POCs in the period: there is no video to make (the API refuses such a request earlier)."""


class IntroPayload(msgspec.Struct, frozen=True, kw_only=True, tag="intro", tag_field="kind"):
    poc_count: int


class CountPayload(msgspec.Struct, frozen=True, kw_only=True, tag="count", tag_field="kind"):
    poc_count: int
    public_count: int
    language_count: int
    tag_count: int
    framework_count: int
    active_months: int


class LanguagesPayload(msgspec.Struct, frozen=True, kw_only=True, tag="languages", tag_field="kind"):
    languages: list[Tally]
    """The most used first (at most five); a None key counts the POCs without a language."""
    poc_count: int


class BusiestMonthPayload(msgspec.Struct, frozen=True, kw_only=True, tag="busiest-month", tag_field="kind"):
    busiest: MonthTally
    months: list[MonthTally]
    poc_count: int


class ActivityPayload(msgspec.Struct, frozen=True, kw_only=True, tag="activity", tag_field="kind"):
    weekdays: list[int]
    """POCs per weekday in the video's time zone, Monday first."""
    hours: list[int] | None
    """POCs per hour of the day; None when the POCs carry dates without times."""
    top_weekday: int
    top_hour: int | None


class TagsPayload(msgspec.Struct, frozen=True, kw_only=True, tag="tags", tag_field="kind"):
    tags: list[Tally]
    tag_count: int


class FrameworksPayload(msgspec.Struct, frozen=True, kw_only=True, tag="frameworks", tag_field="kind"):
    frameworks: list[Tally]
    framework_count: int


class PocPayload(msgspec.Struct, frozen=True, kw_only=True, tag="poc", tag_field="kind"):
    poc_id: str
    name: str
    excerpt: str | None
    language: str | None
    tags: list[str]
    frameworks: list[str]
    created_at: str
    """ISO 8601 instant, as the POC carries it."""
    is_public: bool
    has_thumbnail: bool
    number: int
    """1-based position among the highlights."""
    of: int


class MoreItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    language: str | None


class MorePayload(msgspec.Struct, frozen=True, kw_only=True, tag="more", tag_field="kind"):
    count: int
    """POCs not highlighted (all of them, even beyond `pocs`)."""
    pocs: list[MoreItem]
    """The first `MORE_LIMIT` of them, oldest first."""


class TimelinePayload(msgspec.Struct, frozen=True, kw_only=True, tag="timeline", tag_field="kind"):
    months: list[MonthTally]
    busiest: str | None


class OutroPayload(msgspec.Struct, frozen=True, kw_only=True, tag="outro", tag_field="kind"):
    tier: str
    poc_count: int
    next_year: int | None


Payload = (
    IntroPayload
    | CountPayload
    | LanguagesPayload
    | BusiestMonthPayload
    | ActivityPayload
    | TagsPayload
    | FrameworksPayload
    | PocPayload
    | MorePayload
    | TimelinePayload
    | OutroPayload
)


class Scene(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    kind: str
    duration: float
    """Seconds: exactly `frames` / fps."""
    frames: int
    transition_frames: int
    """Frames at the start that blend in from the previous scene (0 for the first scene)."""
    fade_out_frames: int
    """Frames at the end that fade to black (the last scene only)."""
    payload: Payload


class TimelinePlan(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    fps: int
    frames: int
    duration: float
    poc_count: int
    scenes: list[Scene]


_plan_encoder = msgspec.json.Encoder()
_plan_decoder = msgspec.json.Decoder(TimelinePlan)


def encode_plan(plan: TimelinePlan) -> bytes:
    return _plan_encoder.encode(plan)


def decode_plan(data: bytes) -> TimelinePlan:
    return _plan_decoder.decode(data)


def tier_for(poc_count: int, options: VideoOptions) -> str:
    """The tier of a year with `poc_count` POCs; a shorter or longer period is scaled to a year."""
    days = max(1.0, (options.end - options.start).total_seconds() / 86400)
    per_year = poc_count * 365.25 / days
    return [name for name, minimum in TIERS if per_year >= minimum][-1]


def notability(poc: ReportPoc, has_thumbnail: bool) -> float:
    """How much a POC has to show on its own scene: an image, a description, tags, frameworks."""
    description = clean_text(poc.description or "").strip()
    return (
        (2.0 if has_thumbnail else 0.0)
        + min(len(description), 200) / 100
        + 0.25 * min(len(poc.tags), 4)
        + 0.3 * min(len(poc.frameworks), 3)
        + (0.5 if poc.is_public else 0.0)
        + (0.3 if poc.language else 0.0)
    )


def notable_pocs(
    pocs: Sequence[ReportPoc], count: int, options: VideoOptions, thumbnails: Collection[str] = ()
) -> list[ReportPoc]:
    """The `count` most notable POCs, spread over the months, oldest first.

    Greedy: each pick is the best score after a penalty for every POC already picked in its
    month, so a busy March does not take every highlight. Ties go to the older POC.
    """
    zone = options.zone
    ordered = ordered_pocs(pocs)
    position = {poc.poc_id: index for index, poc in enumerate(ordered)}
    scores = {poc.poc_id: notability(poc, poc.poc_id in thumbnails) for poc in ordered}
    months = {poc.poc_id: month_key(poc_created_at(poc).astimezone(zone)) for poc in ordered}
    picked: list[ReportPoc] = []
    per_month: Counter[str] = Counter()
    remaining = list(ordered)
    while remaining and len(picked) < count:
        best = max(
            remaining,
            key=lambda poc: (scores[poc.poc_id] - 1.5 * per_month[months[poc.poc_id]], -position[poc.poc_id]),
        )
        picked.append(best)
        per_month[months[best.poc_id]] += 1
        remaining.remove(best)
    return sorted(picked, key=lambda poc: position[poc.poc_id])


def plan_timeline(
    pocs: Sequence[ReportPoc],
    options: VideoOptions,
    *,
    thumbnails: Collection[str] = (),
    target_seconds: float | None = None,
) -> TimelinePlan:
    """The scenes of the video of `pocs` (the period's selection, filters applied).

    `thumbnails` names the POCs that have an image (their scenes show it, and it makes them
    more notable). `target_seconds` fixes the length; by default it follows the POCs, from 30
    to 90 s.
    """
    if not pocs:
        raise NothingToPlanError("no POCs in the period")
    if target_seconds is not None and not MIN_TARGET_SECONDS <= target_seconds <= MAX_TARGET_SECONDS:
        raise ValueError(f"target_seconds must be between {MIN_TARGET_SECONDS:g} and {MAX_TARGET_SECONDS:g}")
    ordered = ordered_pocs(pocs)
    summary = summarise(ordered, options.report_options)
    stats = _stats_payloads(ordered, summary, options)
    layout = _fit_layout(
        stats_kinds=[kind for kind in STATS_KINDS if kind in stats],
        poc_count=len(ordered),
        target_seconds=target_seconds,
    )

    highlights = notable_pocs(ordered, layout.highlights, options, thumbnails)
    highlighted_ids = {poc.poc_id for poc in highlights}
    payloads: list[Payload] = [IntroPayload(poc_count=len(ordered))]
    payloads.extend(stats[kind] for kind in layout.kinds if kind in stats)
    payloads.extend(
        _poc_payload(poc, number, len(highlights), poc.poc_id in thumbnails)
        for number, poc in enumerate(highlights, start=1)
    )
    if "more" in layout.kinds:
        others = [poc for poc in ordered if poc.poc_id not in highlighted_ids]
        payloads.append(
            MorePayload(
                count=len(others),
                pocs=[
                    MoreItem(name=clean_text(poc.name), language=poc.language) for poc in others[:MORE_LIMIT]
                ],
            )
        )
    if "timeline" in layout.kinds:
        busiest = summary.busiest_month.month if summary.busiest_month else None
        payloads.append(TimelinePayload(months=summary.months, busiest=busiest))
    payloads.append(
        OutroPayload(
            tier=tier_for(len(ordered), options),
            poc_count=len(ordered),
            next_year=options.year + 1 if options.year is not None else None,
        )
    )

    kinds = [_kind_of(payload) for payload in payloads]
    frames = _scene_frames(kinds, layout.seconds)
    scenes = [
        Scene(
            index=index,
            kind=kinds[index],
            duration=round(frames[index] / FPS, 6),
            frames=frames[index],
            transition_frames=min(TRANSITION_FRAMES, frames[index] // 3) if index else 0,
            fade_out_frames=min(FADE_OUT_FRAMES, frames[index] // 3) if index == len(payloads) - 1 else 0,
            payload=payload,
        )
        for index, payload in enumerate(payloads)
    ]
    total_frames = sum(frames)
    return TimelinePlan(
        version=PLAN_VERSION,
        fps=FPS,
        frames=total_frames,
        duration=round(total_frames / FPS, 6),
        poc_count=len(ordered),
        scenes=scenes,
    )


def scene_thumbnail_ids(plan: TimelinePlan, index: int) -> list[str]:
    """POCs whose images rendering scene `index` needs: its own, and the previous scene's,
    since each scene draws the transition from the previous one's last frame."""
    wanted: list[str] = []
    for scene in plan.scenes[max(0, index - 1) : index + 1]:
        payload = scene.payload
        if isinstance(payload, PocPayload) and payload.has_thumbnail:
            wanted.append(payload.poc_id)
    return wanted


# -- the scenes' data -------------------------------------------------------------------------


def _stats_payloads(
    ordered: list[ReportPoc], summary: ReportSummary, options: VideoOptions
) -> dict[str, Payload]:
    """Payloads of the stats scenes that have something to show, by kind."""
    count = len(ordered)
    payloads: dict[str, Payload] = {}
    named_frameworks = [tally for tally in summary.frameworks if tally.key is not None]
    payloads["count"] = CountPayload(
        poc_count=count,
        public_count=summary.public_count,
        language_count=summary.language_count,
        tag_count=summary.tag_count,
        framework_count=len(named_frameworks),
        active_months=sum(1 for month in summary.months if month.count),
    )
    if summary.language_count:
        payloads["languages"] = LanguagesPayload(languages=summary.languages[:5], poc_count=count)
    if summary.busiest_month is not None and count >= 3:
        payloads["busiest-month"] = BusiestMonthPayload(
            busiest=summary.busiest_month, months=summary.months, poc_count=count
        )
    if count >= 3:
        payloads["activity"] = _activity(ordered, options)
    if summary.top_tags:
        payloads["tags"] = TagsPayload(tags=summary.top_tags, tag_count=summary.tag_count)
    if named_frameworks:
        payloads["frameworks"] = FrameworksPayload(
            frameworks=named_frameworks[:6], framework_count=len(named_frameworks)
        )
    return payloads


def _activity(ordered: list[ReportPoc], options: VideoOptions) -> ActivityPayload:
    local_times = [poc_created_at(poc).astimezone(options.zone) for poc in ordered]
    weekdays = [0] * 7
    hours = [0] * 24
    for moment in local_times:
        weekdays[moment.weekday()] += 1
        hours[moment.hour] += 1
    has_times = len({(moment.hour, moment.minute) for moment in local_times}) > 1
    top_weekday = max(range(7), key=lambda day: (weekdays[day], -day))
    top_hour = max(range(24), key=lambda hour: (hours[hour], -hour)) if has_times else None
    return ActivityPayload(
        weekdays=weekdays,
        hours=hours if has_times else None,
        top_weekday=top_weekday,
        top_hour=top_hour,
    )


_SPACES = re.compile(r"\s+")


def excerpt(description: str | None, limit: int = EXCERPT_CHARACTERS) -> str | None:
    """The description on one line, cut at a word boundary with an ellipsis when it is long."""
    text = _SPACES.sub(" ", clean_text(description or "")).strip()
    if not text:
        return None
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = cut.rfind(" ")
    if boundary > limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(" ,.;:-\u2013\u2014") + "\u2026"


def _distinct(labels: Sequence[str], limit: int) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for label in labels:
        key = label_key(label)
        if key and key not in seen:
            seen.add(key)
            kept.append(clean_text(label.strip()))
    return kept[:limit]


def _poc_payload(poc: ReportPoc, number: int, of: int, has_thumbnail: bool) -> PocPayload:
    return PocPayload(
        poc_id=poc.poc_id,
        name=clean_text(poc.name).strip(),
        excerpt=excerpt(poc.description),
        language=poc.language,
        tags=_distinct(poc.tags, POC_TAGS),
        frameworks=_distinct(poc.frameworks, POC_FRAMEWORKS),
        created_at=poc.created_at,
        is_public=poc.is_public,
        has_thumbnail=has_thumbnail,
        number=number,
        of=of,
    )


def _kind_of(payload: Payload) -> str:
    return str(type(payload).__struct_config__.tag)


# -- lengths ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    kinds: list[str]
    """Stats kinds kept, then ``more`` and ``timeline`` when kept (intro, POCs and outro always are)."""
    highlights: int
    seconds: float


def _kinds(stats_kinds: Sequence[str], dropped: set[str], highlights: int, poc_count: int) -> list[str]:
    kinds = ["intro", *(kind for kind in stats_kinds if kind not in dropped), *(["poc"] * highlights)]
    if highlights < poc_count and "more" not in dropped:
        kinds.append("more")
    if "timeline" not in dropped:
        kinds.append("timeline")
    kinds.append("outro")
    return kinds


def _natural_seconds(kinds: Sequence[str]) -> float:
    return sum(SCENE_SECONDS[kind] for kind in kinds)


def _fewer(highlights: int, poc_count: int) -> int:
    """One highlight less, never leaving a single POC for the "more" scene."""
    fewer = highlights - 1
    if fewer == poc_count - 1 and fewer > 1:
        fewer -= 1
    return max(1, fewer)


def _fit_layout(*, stats_kinds: Sequence[str], poc_count: int, target_seconds: float | None) -> _Layout:
    dropped: set[str] = set()
    highlights = min(poc_count, MAX_HIGHLIGHTS)
    if poc_count - highlights == 1:
        highlights = poc_count

    def scale() -> float:
        return seconds / _natural_seconds(_kinds(stats_kinds, dropped, highlights, poc_count))

    if target_seconds is None:
        natural = _natural_seconds(_kinds(stats_kinds, dropped, highlights, poc_count))
        seconds = min(AUTO_MAX_SECONDS, max(AUTO_MIN_SECONDS, natural))
    else:
        seconds = target_seconds
    floor_highlights = min(poc_count, MIN_HIGHLIGHTS)
    while scale() < SCALE_MIN and _fewer(highlights, poc_count) >= floor_highlights and highlights > 1:
        highlights = _fewer(highlights, poc_count)
    while scale() > SCALE_MAX and highlights < poc_count:
        highlights = poc_count if poc_count - highlights == 2 else highlights + 1
    for kind in DROP_ORDER:
        if scale() >= SCALE_FLOOR:
            break
        dropped.add(kind)
    while scale() < SCALE_FLOOR and highlights > 1:
        highlights = _fewer(highlights, poc_count)
    return _Layout(
        kinds=_kinds(stats_kinds, dropped, highlights, poc_count),
        highlights=highlights,
        seconds=seconds,
    )


def _scene_frames(kinds: Sequence[str], seconds: float) -> list[int]:
    """Whole frames per scene summing to `seconds` (largest remainders first), at least one second each."""
    total = round(seconds * FPS)
    natural = _natural_seconds(kinds)
    exact = [SCENE_SECONDS[kind] / natural * total for kind in kinds]
    frames = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(kinds)), key=lambda index: (-(exact[index] - frames[index]), index))
    for index in by_remainder[: total - sum(frames)]:
        frames[index] += 1
    return [max(MIN_SCENE_FRAMES, count) for count in frames]
