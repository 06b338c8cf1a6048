"""Input, pages and activity names of the YearlyRecap workflow (the yearly schedule's run)."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.yearly_video_types import VideoJob

RECAP_OWNERS_PAGE_ACTIVITY = "catalog.list_recap_owners"
READ_RECAP_PROFILE_ACTIVITY = "identity.read_recap_profile"
CREATE_RECAP_REQUEST_ACTIVITY = "content.create_recap_request"

DEFAULT_PAGE_SIZE = 200
DEFAULT_MAX_CONCURRENT = 4
"""YearlyVideo children running at once: rendering is CPU-heavy and shares the video workers."""
DEFAULT_CHILDREN_PER_RUN = 500
"""Children started by one run before it continues as new, so a huge tenant never bloats history."""


@dataclass
class RecapTotals:
    """What a recap run (and the runs it continued as) did so far."""

    pages: int = 0
    owners: int = 0
    started: int = 0
    already_requested: int = 0
    """The person's recap of that year existed already (a second run, or a request by hand)."""
    skipped_quota: int = 0
    skipped_inactive: int = 0
    failed: int = 0


@dataclass
class RecapInput:
    year: int | None = None
    """None: the year before the one the run starts in (what the yearly schedule asks for)."""
    tenant_ids: list[str] = field(default_factory=list)
    """Only these tenants; empty: every tenant."""
    page_size: int = DEFAULT_PAGE_SIZE
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    children_per_run: int = DEFAULT_CHILDREN_PER_RUN
    after_tenant_id: str | None = None
    """Keyset cursor: resume after this (tenant, user) pair (continue-as-new)."""
    after_user_id: str | None = None
    carried: RecapTotals | None = None


@dataclass
class RecapOwnersRequest:
    year: int
    time_zone: str
    after_tenant_id: str | None
    after_user_id: str | None
    limit: int
    tenant_ids: list[str] = field(default_factory=list)


@dataclass
class RecapOwner:
    tenant_id: str
    user_id: str
    poc_count: int


@dataclass
class RecapOwnersPage:
    items: list[RecapOwner]
    has_more: bool


@dataclass
class RecapProfileRequest:
    tenant_id: str
    user_id: str


@dataclass
class RecapProfile:
    """What identity knows of the person: only ACTIVE people get a recap, in their language, on their plan."""

    active: bool
    locale: str | None = None
    plan: str | None = None


@dataclass
class RecapRequestInput:
    tenant_id: str
    user_id: str
    year: int
    locale: str | None = None
    plan: str | None = None


@dataclass
class RecapRequestOutcome:
    """``created`` (a new request), ``existing`` (made before: its run may still be missing),
    ``quota`` (the plan's videos of the year are used) or ``inactive`` (the person cannot sign in)."""

    status: str
    request_id: str | None = None
    workflow_id: str | None = None
    job: VideoJob | None = None
    """The run to start for ``created`` and ``existing``."""


RECAP_TIME_ZONE = "America/Sao_Paulo"
"""The recap's year is counted in the platform's home time zone (the person's own is not known here)."""
