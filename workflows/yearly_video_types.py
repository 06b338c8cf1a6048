"""Input, result and names of the YearlyVideo and YearlyRecap workflows, shared by content and its workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

TASK_QUEUE = "video"
"""Rendering is CPU-heavy: its workers scale apart from the ``content`` queue's reports."""
WORKFLOW_NAME = "YearlyVideo"
RECAP_WORKFLOW_NAME = "YearlyRecap"
VIDEO_REQUEST_TYPE = "VIDEO"
"""The RequestType search attribute of every video run, and the ``type`` of its content request."""
RECAP_SCHEDULE_ID = "yearly-recap"

SELECTION_UPDATE = "selection"
"""Update answered once the period's POCs are selected: the API waits for it (update-with-start),
so a person with no POCs in the period gets a 4xx instead of an empty video."""


def video_workflow_id(tenant_id: str, request_id: str) -> str:
    """Deterministic, so a retried POST never starts a second run of the same request."""
    return f"video/{tenant_id}/{request_id}"


def yearly_request_idempotency_key(year: int) -> str:
    """The Idempotency-Key of the recap the schedule asks for: one per user and year, however often run."""
    return f"yearly-recap-{year}"


def recap_workflow_id(year: int, tenant_id: str | None) -> str:
    """One recap run per year (and tenant, when started by hand for one tenant)."""
    return f"yearly-recap/{year}/{tenant_id or 'all'}"


@dataclass
class VideoJob:
    """One content request of type VIDEO, as the API (or the yearly recap) accepted it."""

    request_id: str
    tenant_id: str
    user_id: str
    title: str
    format: str
    """A key of ``api.content.video.model.VIDEO_FORMATS`` (square, landscape-720, landscape-1080, story)."""
    style: str
    music_track: str | None
    locale: str
    time_zone: str = "America/Sao_Paulo"
    year: int | None = None
    from_date: str | None = None
    """ISO 8601 instant, inclusive (when no year)."""
    to_date: str | None = None
    """ISO 8601 instant, exclusive (when no year)."""
    include_tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    target_seconds: float | None = None
    """A fixed length (previews, benchmarks); None: the timeline's own, 30-90 s by the year's POCs."""
    width: int | None = None
    """With `height`: a size overriding the format's (previews, tests); None: the format's."""
    height: int | None = None


@dataclass
class SelectionOutcome:
    """What the ``selection`` update answers."""

    poc_count: int
    status: str
    """The request's status after selection: PROCESSING, or FAILED (e.g. no POCs), or CANCELLED."""
    error_code: str | None = None


@dataclass
class VideoResult:
    request_id: str
    status: str
    """COMPLETED, FAILED or CANCELLED."""
    poc_count: int = 0
    result_key: str | None = None
    thumbnail_key: str | None = None
    error_code: str | None = None


def video_result_key(tenant_id: str, user_id: str, year: int, request_id: str) -> str:
    """The seed's S3 layout: ``videos/{tenant}/{user}/{year}/{request}.mp4``."""
    return f"videos/{tenant_id}/{user_id}/{year}/{request_id}.mp4"


def video_thumbnail_key(tenant_id: str, user_id: str, request_id: str) -> str:
    return f"videos/{tenant_id}/{user_id}/thumbnails/{request_id}.jpg"


def video_work_prefix(tenant_id: str, user_id: str, request_id: str) -> str:
    """Scenes, plan and selection of one run; removed whatever the end."""
    return f"videos/{tenant_id}/{user_id}/work/{request_id}/"


# -- the steps, their progress, and the one-dataclass arguments of the activities ----------------
# (added by the worker side; the names above are the API's contract and stay as they are)

STEP_CLAIM = "claim"
STEP_PROFILE = "profile"
STEP_SELECT = "select"
STEP_PLAN = "plan"
STEP_RENDER = "render"
STEP_ASSEMBLE = "assemble"
STEP_COMPLETE = "complete"

VIDEO_STEPS: tuple[str, ...] = (
    STEP_CLAIM,
    STEP_PROFILE,
    STEP_SELECT,
    STEP_PLAN,
    STEP_RENDER,
    STEP_ASSEMBLE,
    STEP_COMPLETE,
)
"""In order. The request's ``step`` column holds the one running now (``completed`` once done)."""

STEP_STARTS_AT: dict[str, int] = {
    STEP_CLAIM: 0,
    STEP_PROFILE: 3,
    STEP_SELECT: 5,
    STEP_PLAN: 10,
    STEP_RENDER: 15,
    STEP_ASSEMBLE: 85,
    STEP_COMPLETE: 95,
}
"""The request's progress (0-100) when each step begins; the scenes move it from 15 to 85."""

REQUEST_STEPS: dict[str, str] = {
    STEP_CLAIM: "selecting",
    STEP_PROFILE: "selecting",
    STEP_SELECT: "selecting",
    STEP_PLAN: "planning",
    STEP_RENDER: "rendering",
    STEP_ASSEMBLE: "assembling",
    STEP_COMPLETE: "completing",
}
"""What the request's ``step`` column says while each step runs."""

NO_POCS_ERROR_CODE = "NO_POCS"
"""The ``error_code`` of a request whose period holds no POCs: answered 422, not counted in the quota."""
MAX_VIDEO_POCS = 20_000
"""The selection's cap (the catalog refuses more with ``TooManyPocs``); long years are summarised."""

PLAN_VIDEO_ACTIVITY = "plan_video"
RENDER_SCENE_ACTIVITY = "render_video_scene"
ASSEMBLE_VIDEO_ACTIVITY = "assemble_video"
COMPLETE_VIDEO_ACTIVITY = "complete_video"
FAIL_VIDEO_ACTIVITY = "fail_video"
"""Video's own activities; claiming, cancelling and deleting files are content's, shared with reports
(``claim_report_request``, ``cancel_report``, ``discard_report_files``: type-agnostic despite the names),
and the selection and the owner's profile are the catalog's and identity's report activities."""

VIDEO_MEDIA_TYPE = "video/mp4"
THUMBNAIL_MEDIA_TYPE = "image/jpeg"


def video_year(job: VideoJob) -> int:
    """The year of the result's key: the asked-for year, or the year the period starts in."""
    if job.year is not None:
        return job.year
    if job.from_date:
        return int(job.from_date[:4])
    raise ValueError("a video job needs a year or a from_date")


def year_period(year: int, time_zone: str) -> tuple[str, str]:
    """A calendar year in `time_zone` as the selection's [from, to) ISO 8601 instants.

    Here rather than in the workflow: its sandbox's datetime and zoneinfo do not mix.
    """
    zone = ZoneInfo(time_zone)
    return (
        datetime(year, 1, 1, tzinfo=zone).isoformat(),
        datetime(year + 1, 1, 1, tzinfo=zone).isoformat(),
    )


def video_plan_key(tenant_id: str, user_id: str, request_id: str) -> str:
    """The timeline (`api.content.video.timeline.TimelinePlan` as JSON): every scene renders from it."""
    return f"{video_work_prefix(tenant_id, user_id, request_id)}plan.json"


def video_image_key(tenant_id: str, user_id: str, request_id: str, poc_id: str) -> str:
    """A POC's image as the run uses it: copied once at planning, so every scene draws the same picture."""
    return f"{video_work_prefix(tenant_id, user_id, request_id)}images/{poc_id}"


def video_scene_key(tenant_id: str, user_id: str, request_id: str, index: int) -> str:
    """Scene `index`'s MP4 segment: keyed by request and index, so a retried scene finds it and skips."""
    return f"{video_work_prefix(tenant_id, user_id, request_id)}scenes/{index:04d}.mp4"


@dataclass
class VideoSpec:
    """What the renderer needs besides the POCs: `api.content.video.model.VideoOptions` as plain data."""

    title: str
    owner_name: str
    format: str
    style: str
    music_track: str | None
    locale: str
    time_zone: str
    year: int | None = None
    from_date: str | None = None
    to_date: str | None = None
    target_seconds: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class VideoPlanRequest:
    tenant_id: str
    user_id: str
    request_id: str
    spec: VideoSpec
    pocs_key: str
    progress: int = STEP_STARTS_AT[STEP_RENDER]
    step: str = REQUEST_STEPS[STEP_RENDER]
    """Recorded once the plan is stored."""


@dataclass
class VideoPlan:
    plan_key: str
    poc_count: int
    scene_count: int
    duration: float
    frames: int
    concurrency: int
    """Scenes the workflow renders at once: the worker's ``video_render_concurrency`` (recorded in
    history with this result, so a replay never reads settings)."""


@dataclass
class SceneRequest:
    tenant_id: str
    user_id: str
    request_id: str
    spec: VideoSpec
    plan_key: str
    index: int
    scene_key: str
    progress: int
    """The request's progress once this scene is stored."""
    step: str = REQUEST_STEPS[STEP_RENDER]


@dataclass
class RenderedScene:
    key: str
    index: int
    skipped: bool
    """True when the segment was in storage already (a retry after a lost worker): not rendered again."""


@dataclass
class AssembleRequest:
    tenant_id: str
    user_id: str
    request_id: str
    spec: VideoSpec
    plan_key: str
    scene_keys: list[str]
    result_key: str
    thumbnail_key: str
    progress: int = STEP_STARTS_AT[STEP_COMPLETE]
    step: str = REQUEST_STEPS[STEP_COMPLETE]


@dataclass
class AssembledVideo:
    result_key: str
    thumbnail_key: str
    media_type: str
    size: int
    duration: float


@dataclass
class CompleteVideoRequest:
    tenant_id: str
    user_id: str
    request_id: str
    result_key: str
    thumbnail_key: str
    media_type: str
    size: int
    poc_count: int
    work_prefixes: list[str] = field(default_factory=list)
    """Deleted once the request is COMPLETED (the run's work folder, the selection's)."""


@dataclass
class VideoProgress:
    """The ``progress`` query, and the current details the Temporal UI shows."""

    status: str = "PENDING"
    percent: int = 0
    step: str | None = None
    poc_count: int | None = None
    scene_count: int | None = None
    scenes_done: int = 0
    error_code: str | None = None
    completed_steps: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    """Compensations that ran (``discard_selection``, ``discard_work``, ``discard_result``)."""
