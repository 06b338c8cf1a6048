"""Input, result and names of the ReportGeneration workflow, shared by content (caller) and its worker."""

from __future__ import annotations

from dataclasses import dataclass, field

TASK_QUEUE = "content"
WORKFLOW_NAME = "ReportGeneration"
REPORT_REQUEST_TYPE = "REPORT"
"""The RequestType search attribute of every report run, and the ``type`` of its content request."""

REPORT_FORMATS: tuple[str, ...] = ("pdf", "xlsx", "csv")
GROUP_BY_FIELDS: tuple[str, ...] = ("language", "tag", "framework", "month")


def report_workflow_id(tenant_id: str, request_id: str) -> str:
    """Deterministic, so a retried POST never starts a second run of the same request."""
    return f"report/{tenant_id}/{request_id}"


@dataclass
class ReportJob:
    """One content request of type REPORT, as the API accepted it (validated, normalised)."""

    request_id: str
    tenant_id: str
    user_id: str
    title: str
    format: str
    """One of `REPORT_FORMATS`."""
    locale: str
    """``pt_BR`` or ``en``: the words, dates and numbers of the file."""
    from_date: str | None = None
    """ISO 8601 instant, inclusive; None: from the first POC."""
    to_date: str | None = None
    """ISO 8601 instant, exclusive; None: up to now."""
    include_tags: list[str] = field(default_factory=list)
    """Matching keys (case-folded, accents stripped, as catalog stores them); any of them."""
    exclude_tags: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    """Subset of `GROUP_BY_FIELDS`, in the order the person asked for."""
    time_zone: str = "America/Sao_Paulo"
    """Where months and dates are counted and printed."""


@dataclass
class ReportResult:
    request_id: str
    status: str
    """COMPLETED, FAILED or CANCELLED: what the workflow left in the content request."""
    poc_count: int = 0
    result_key: str | None = None
    error_code: str | None = None


@dataclass
class ReportPoc:
    """One selected POC as every report renders it; catalog's selection writes a list of these."""

    poc_id: str
    name: str
    repository_url: str
    created_at: str
    """ISO 8601 instant with its offset."""
    description: str | None = None
    language: str | None = None
    is_public: bool = False
    tags: list[str] = field(default_factory=list)
    """As the author spelled them (display form)."""
    frameworks: list[str] = field(default_factory=list)
    thumbnail_key: str | None = None
    """Storage key of the POC's image, when it has one (the recap video shows it)."""


def report_result_key(tenant_id: str, user_id: str, request_id: str, extension: str) -> str:
    """Where a finished report lives (the seed's S3 layout: the user's ``reports/`` folder)."""
    return f"tenants/{tenant_id}/users/{user_id}/reports/{request_id}.{extension}"


def report_work_prefix(tenant_id: str, user_id: str, request_id: str) -> str:
    """Intermediate files of one run (selection, aggregates, the rendered file before it is published).

    Large data moves between activities through storage, never through workflow history
    (a payload is capped at 2 MB); the whole prefix is deleted when the run ends, whatever the end.
    """
    return f"tenants/{tenant_id}/users/{user_id}/reports/work/{request_id}/"


# -- the steps, their progress, and the one-dataclass arguments of the activities ----------------
# (added by the worker side; the names above are the API's contract and stay as they are)

STEP_CLAIM = "claim"
STEP_PROFILE = "profile"
STEP_SELECT = "select"
STEP_AGGREGATE = "aggregate"
STEP_RENDER = "render"
STEP_PUBLISH = "publish"
STEP_COMPLETE = "complete"

REPORT_STEPS: tuple[str, ...] = (
    STEP_CLAIM,
    STEP_PROFILE,
    STEP_SELECT,
    STEP_AGGREGATE,
    STEP_RENDER,
    STEP_PUBLISH,
    STEP_COMPLETE,
)
"""In order. The request's ``step`` column holds the one running now (None once it has ended)."""

STEP_STARTS_AT: dict[str, int] = {
    STEP_CLAIM: 0,
    STEP_PROFILE: 5,
    STEP_SELECT: 10,
    STEP_AGGREGATE: 30,
    STEP_RENDER: 40,
    STEP_PUBLISH: 90,
    STEP_COMPLETE: 95,
}
"""The request's progress (0-100) when each step begins; rendering moves it from 40 to 90."""

REQUEST_STEPS: dict[str, str] = {
    STEP_CLAIM: "selecting",
    STEP_PROFILE: "selecting",
    STEP_SELECT: "selecting",
    STEP_AGGREGATE: "aggregating",
    STEP_RENDER: "rendering",
    STEP_PUBLISH: "publishing",
    STEP_COMPLETE: "completing",
}
"""What the request's ``step`` column says while each step runs (``completed`` once it is done)."""

MAX_REPORT_POCS = 20_000
"""More than this in one report is refused (``TooManyPocs``): the file would be unreadable anyway."""

CLAIM_REPORT_ACTIVITY = "claim_report_request"
READ_OWNER_PROFILE_ACTIVITY = "read_report_owner_profile"
SELECT_REPORT_POCS_ACTIVITY = "select_report_pocs"
AGGREGATE_REPORT_ACTIVITY = "aggregate_report"
RENDER_REPORT_ACTIVITY = "render_report"
PUBLISH_REPORT_ACTIVITY = "publish_report"
COMPLETE_REPORT_ACTIVITY = "complete_report"
FAIL_REPORT_ACTIVITY = "fail_report"
CANCEL_REPORT_ACTIVITY = "cancel_report"
DISCARD_REPORT_FILES_ACTIVITY = "discard_report_files"

# Non-retryable error types: the request itself cannot be served, whoever retries it.
TOO_MANY_POCS_ERROR = "TooManyPocs"
UNSUPPORTED_FORMAT_ERROR = "UnsupportedFormat"
INVALID_REQUEST_ERROR = "InvalidReportRequest"
OWNER_NOT_FOUND_ERROR = "OwnerNotFound"

REJECTION_ERROR_CODES: dict[str, str] = {
    TOO_MANY_POCS_ERROR: "too_many_pocs",
    UNSUPPORTED_FORMAT_ERROR: "unsupported_format",
    INVALID_REQUEST_ERROR: "invalid_request",
    OWNER_NOT_FOUND_ERROR: "owner_not_found",
}
"""Error type of an activity's non-retryable error -> the request's ``error_code``.

These end the workflow normally with a FAILED result: the request was handled as designed.
Anything else (retries spent, a bug) records ``{step}_failed`` and fails the workflow too.
"""


def step_failed_code(step: str) -> str:
    return f"{step}_failed"


def report_pocs_key(tenant_id: str, user_id: str, request_id: str) -> str:
    """The selected POCs (a JSON list of `ReportPoc`): the claim check between select and render."""
    return f"{report_work_prefix(tenant_id, user_id, request_id)}pocs.json"


def report_summary_key(tenant_id: str, user_id: str, request_id: str) -> str:
    return f"{report_work_prefix(tenant_id, user_id, request_id)}summary.json"


def report_rendered_key(tenant_id: str, user_id: str, request_id: str, extension: str) -> str:
    """The rendered file before it is published under `report_result_key`."""
    return f"{report_work_prefix(tenant_id, user_id, request_id)}report.{extension}"


@dataclass
class ReportProgress:
    """The ``progress`` query, and the current details the Temporal UI shows."""

    status: str = "PENDING"
    """PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED (as the request will read)."""
    percent: int = 0
    step: str | None = None
    poc_count: int | None = None
    error_code: str | None = None
    completed_steps: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    """Compensations that ran (``discard_work``, ``discard_result``)."""


@dataclass
class ReportRequestRef:
    tenant_id: str
    request_id: str


@dataclass
class ClaimRequest:
    tenant_id: str
    request_id: str
    progress: int = STEP_STARTS_AT[STEP_PROFILE]
    step: str = REQUEST_STEPS[STEP_SELECT]
    """Recorded with the claim: what the request shows while the next steps run."""


@dataclass
class ReportClaim:
    claimed: bool
    """False: the request is missing or already ended (cancelled before it started): no work."""
    status: str | None = None
    """The request's status when not claimed (None when it does not exist)."""


@dataclass
class OwnerProfileRequest:
    tenant_id: str
    user_id: str


@dataclass
class OwnerProfile:
    display_name: str
    email: str
    locale: str | None = None


@dataclass
class PocSelectionRequest:
    tenant_id: str
    user_id: str
    request_id: str
    from_date: str | None = None
    to_date: str | None = None
    include_tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    limit: int = MAX_REPORT_POCS


@dataclass
class PocSelection:
    count: int
    key: str
    """Storage key of the JSON list of `ReportPoc` (under the run's work prefix)."""


@dataclass
class ReportSpec:
    """Everything a renderer needs besides the POCs: the content's ``ReportOptions``, as plain data."""

    title: str
    owner_name: str
    owner_email: str
    format: str
    locale: str
    time_zone: str
    generated_at: str
    """ISO 8601 instant, from the workflow's clock (deterministic on replay)."""
    period_from: str | None = None
    period_to: str | None = None
    include_tags: list[str] = field(default_factory=list)
    exclude_tags: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)


@dataclass
class AggregateRequest:
    tenant_id: str
    user_id: str
    request_id: str
    spec: ReportSpec
    pocs_key: str
    progress: int = STEP_STARTS_AT[STEP_RENDER]
    step: str = REQUEST_STEPS[STEP_RENDER]
    """Recorded once the summary is stored (the step starts by recording its own start)."""


@dataclass
class ReportAggregate:
    summary_key: str
    poc_count: int


@dataclass
class RenderRequest:
    tenant_id: str
    user_id: str
    request_id: str
    spec: ReportSpec
    pocs_key: str
    summary_key: str
    progress_from: int = STEP_STARTS_AT[STEP_RENDER]
    progress_to: int = STEP_STARTS_AT[STEP_PUBLISH]
    next_step: str = REQUEST_STEPS[STEP_PUBLISH]


@dataclass
class RenderedFile:
    key: str
    media_type: str
    extension: str
    size: int


@dataclass
class PublishRequest:
    tenant_id: str
    user_id: str
    request_id: str
    rendered: RenderedFile
    result_key: str
    progress: int = STEP_STARTS_AT[STEP_COMPLETE]
    step: str = REQUEST_STEPS[STEP_COMPLETE]


@dataclass
class PublishedReport:
    result_key: str
    media_type: str
    size: int


@dataclass
class CompleteRequest:
    tenant_id: str
    user_id: str
    request_id: str
    result_key: str
    media_type: str
    size: int
    poc_count: int


@dataclass
class RequestOutcome:
    status: str | None
    """The request's status after the call: the one asked for, or the end it had reached already."""
    changed: bool


@dataclass
class FailRequest:
    tenant_id: str
    request_id: str
    locale: str
    error_code: str
    """A key of `REJECTION_ERROR_CODES`' values, or ``{step}_failed``."""
    step: str | None = None
    count: int | None = None
    limit: int | None = None
    format: str | None = None


@dataclass
class DiscardRequest:
    """Delete these keys and every object under `prefix`; deleting what is gone is a no-op."""

    tenant_id: str
    keys: list[str] = field(default_factory=list)
    prefix: str | None = None
