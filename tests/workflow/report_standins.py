"""Stand-in activities for the ReportGeneration workflow tests (not the real ones).

Content's, catalog's and identity's steps are stood in for by one class that keeps the content
request and the stored files in memory, so a test sees exactly what a run left behind (the steps
every content request shares are in `tests.workflow.standins.StandInContentActivities`). They are
registered under the real activity names, record every call in order, and fail or block where a
test asks them to, so the workflow's control flow is tested on its own. The real activities run
against real services in tests/integration/content/.

The failure message is the real one (`activities.content.failure_message`), so these tests also
check what a person reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.content import failure_message
from tests.workflow.standins import StandInContentActivities
from workflows.report_generation_types import (
    AGGREGATE_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    COMPLETE_REPORT_ACTIVITY,
    FAIL_REPORT_ACTIVITY,
    PUBLISH_REPORT_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    RENDER_REPORT_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    AggregateRequest,
    CompleteRequest,
    FailRequest,
    PublishedReport,
    PublishRequest,
    RenderedFile,
    RenderRequest,
    ReportAggregate,
    RequestOutcome,
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
class StandInReportActivities(StandInContentActivities):
    def own_activities(self) -> Sequence[Callable[..., Any]]:
        return [self.aggregate, self.render, self.publish, self.complete, self.fail]

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
        return self._fail(request.error_code, lambda: failure_message(request))
