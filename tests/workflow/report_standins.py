"""Stand-in activities for the ReportGeneration workflow tests (not the real ones).

Content's, catalog's and identity's steps are stood in for by one class that keeps the content
request and the stored files in memory, so a test sees exactly what a run left behind. They are
registered under the real activity names, record every call in order, and fail or block where a
test asks them to, so the workflow's control flow is tested on its own. The real activities run
against real services in tests/integration/content/.

The failure message is the real one (`activities.content.failure_message`), so these tests also
check what a person reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from temporalio import activity

from activities.content import failure_message
from tests.workflow.standins import FailureRule
from workflows.report_generation_types import (
    AGGREGATE_REPORT_ACTIVITY,
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    COMPLETE_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    FAIL_REPORT_ACTIVITY,
    PUBLISH_REPORT_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    RENDER_REPORT_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    AggregateRequest,
    ClaimRequest,
    CompleteRequest,
    DiscardRequest,
    FailRequest,
    OwnerProfile,
    OwnerProfileRequest,
    PocSelection,
    PocSelectionRequest,
    PublishedReport,
    PublishRequest,
    RenderedFile,
    RenderRequest,
    ReportAggregate,
    ReportClaim,
    ReportRequestRef,
    RequestOutcome,
    report_pocs_key,
    report_rendered_key,
    report_summary_key,
    report_work_prefix,
)

MEDIA_TYPES = {"pdf": "application/pdf", "xlsx": "application/vnd.ms-excel", "csv": "text/csv"}

MAIN_PATH: tuple[str, ...] = (
    CLAIM_REPORT_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    AGGREGATE_REPORT_ACTIVITY,
    RENDER_REPORT_ACTIVITY,
    PUBLISH_REPORT_ACTIVITY,
    COMPLETE_REPORT_ACTIVITY,
)
"""The activities of a run that completes, in order."""


@dataclass
class StandInRequest:
    """The content request as the stand-ins keep it (what the real repository keeps in a row)."""

    status: str = "PENDING"
    progress: int = 0
    step: str | None = None
    poc_count: int | None = None
    result_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    progress_seen: list[int] = field(default_factory=list)


@dataclass
class StandInReportActivities:
    poc_count: int = 3
    request: StandInRequest = field(default_factory=StandInRequest)
    failures: dict[str, FailureRule] = field(default_factory=dict)
    block_at: str | None = None
    """An activity that waits (heartbeating) until `release` is set or it is cancelled."""
    calls: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    """The store: key -> content."""
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)
    """Activities that saw their cancellation."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.claim,
            self.read_profile,
            self.select,
            self.aggregate,
            self.render,
            self.publish,
            self.complete,
            self.fail,
            self.cancel,
            self.discard,
        ]

    async def _perform(self, name: str, argument: Any) -> None:
        self.calls.append(name)
        self.arguments[name] = argument
        if name == self.block_at and not self.release.is_set():
            self.blocked.set()
            try:
                while not self.release.is_set():
                    activity.heartbeat({"percent": self.request.progress})
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
        rule = self.failures.get(name)
        failure = rule(activity.info().attempt) if rule else None
        if failure is not None:
            raise failure

    def _progress(self, progress: int, step: str) -> None:
        if self.request.status in ("PENDING", "PROCESSING") and progress >= self.request.progress:
            self.request.progress, self.request.step = progress, step
            self.request.progress_seen.append(progress)

    def _end(self, status: str) -> bool:
        if self.request.status in ("PENDING", "PROCESSING"):
            self.request.status = status
            return True
        return self.request.status == status

    @activity.defn(name=CLAIM_REPORT_ACTIVITY)
    async def claim(self, request: ClaimRequest) -> ReportClaim:
        await self._perform(CLAIM_REPORT_ACTIVITY, request)
        if self.request.status not in ("PENDING", "PROCESSING"):
            return ReportClaim(claimed=False, status=self.request.status)
        self.request.status = "PROCESSING"
        self._progress(request.progress, request.step)
        return ReportClaim(claimed=True)

    @activity.defn(name=READ_OWNER_PROFILE_ACTIVITY)
    async def read_profile(self, request: OwnerProfileRequest) -> OwnerProfile:
        await self._perform(READ_OWNER_PROFILE_ACTIVITY, request)
        return OwnerProfile(display_name="Ana Souza", email="ana@acme.example", locale="pt_BR")

    @activity.defn(name=SELECT_REPORT_POCS_ACTIVITY)
    async def select(self, request: PocSelectionRequest) -> PocSelection:
        key = report_pocs_key(request.tenant_id, request.user_id, request.request_id)
        self.files[key] = b"[]"  # written before a failure can be reported, as a lost ack would
        await self._perform(SELECT_REPORT_POCS_ACTIVITY, request)
        return PocSelection(count=self.poc_count, key=key)

    @activity.defn(name=AGGREGATE_REPORT_ACTIVITY)
    async def aggregate(self, request: AggregateRequest) -> ReportAggregate:
        key = report_summary_key(request.tenant_id, request.user_id, request.request_id)
        self.files[key] = b"{}"
        await self._perform(AGGREGATE_REPORT_ACTIVITY, request)
        self.request.poc_count = self.poc_count
        self._progress(request.progress, request.step)
        return ReportAggregate(summary_key=key, poc_count=self.poc_count)

    @activity.defn(name=RENDER_REPORT_ACTIVITY)
    async def render(self, request: RenderRequest) -> RenderedFile:
        extension = request.spec.format
        key = report_rendered_key(request.tenant_id, request.user_id, request.request_id, extension)
        self.files[key] = b"partial"
        await self._perform(RENDER_REPORT_ACTIVITY, request)
        self.files[key] = f"{request.spec.format} of {request.spec.title}".encode()
        self._progress(request.progress_to, request.next_step)
        return RenderedFile(
            key=key, media_type=MEDIA_TYPES[extension], extension=extension, size=len(self.files[key])
        )

    @activity.defn(name=PUBLISH_REPORT_ACTIVITY)
    async def publish(self, request: PublishRequest) -> PublishedReport:
        data = self.files[request.rendered.key]
        self.files[request.result_key] = data
        await self._perform(PUBLISH_REPORT_ACTIVITY, request)
        self._progress(request.progress, request.step)
        return PublishedReport(
            result_key=request.result_key, media_type=request.rendered.media_type, size=len(data)
        )

    @activity.defn(name=COMPLETE_REPORT_ACTIVITY)
    async def complete(self, request: CompleteRequest) -> RequestOutcome:
        await self._perform(COMPLETE_REPORT_ACTIVITY, request)
        if not self._end("COMPLETED"):
            return RequestOutcome(status=self.request.status, changed=False)
        self.request.progress, self.request.step = 100, "completed"
        self.request.result_key = request.result_key
        self.request.poc_count = request.poc_count
        prefix = report_work_prefix(request.tenant_id, request.user_id, request.request_id)
        for key in [key for key in self.files if key.startswith(prefix)]:
            del self.files[key]
        return RequestOutcome(status="COMPLETED", changed=True)

    @activity.defn(name=FAIL_REPORT_ACTIVITY)
    async def fail(self, request: FailRequest) -> RequestOutcome:
        await self._perform(FAIL_REPORT_ACTIVITY, request)
        changed = self._end("FAILED")
        if changed:
            self.request.error_code = request.error_code
            self.request.error_message = failure_message(request)
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=CANCEL_REPORT_ACTIVITY)
    async def cancel(self, request: ReportRequestRef) -> RequestOutcome:
        await self._perform(CANCEL_REPORT_ACTIVITY, request)
        changed = self._end("CANCELLED")
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=DISCARD_REPORT_FILES_ACTIVITY)
    async def discard(self, request: DiscardRequest) -> int:
        await self._perform(DISCARD_REPORT_FILES_ACTIVITY, request)
        doomed = [
            key
            for key in self.files
            if key in request.keys or (request.prefix is not None and key.startswith(request.prefix))
        ]
        for key in doomed:
            del self.files[key]
        return len(doomed)
