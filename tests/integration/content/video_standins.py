"""A stand-in YearlyVideo for the API's tests, and a content app whose videos go to it.

The stand-in answers the ``selection`` update like the real workflow (the API only needs that
answer) without reading any POC: a request including the tag ``sem-pocs`` selects none, every
other selects `STAND_IN_POC_COUNT`. It then waits until it is cancelled, so a request stays
PENDING for the tests of cancel and replay. It runs on the test's own task queue.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.common.settings import Settings
from tests.integration.content.support import ContentClient, TokenMint, running_content
from workflows.yearly_video_types import SELECTION_UPDATE, WORKFLOW_NAME, SelectionOutcome, VideoJob

STAND_IN_POC_COUNT = 3
NO_POCS_TAG = "sem-pocs"
SLOW_TAG = "lento"
"""A request with this tag answers its selection only after the API has given up waiting."""


@workflow.defn(name=WORKFLOW_NAME)
class StandInYearlyVideo:
    """Stand-in of YearlyVideo: selection by tag, then idle until cancelled."""

    def __init__(self) -> None:
        self._job: VideoJob | None = None

    @workflow.run
    async def run(self, job: VideoJob) -> str:
        self._job = job
        await workflow.wait_condition(lambda: False)
        return "unreachable"

    @workflow.update(name=SELECTION_UPDATE, unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def selection(self) -> SelectionOutcome:
        await workflow.wait_condition(lambda: self._job is not None)
        assert self._job is not None
        if SLOW_TAG in self._job.include_tags:
            await workflow.sleep(timedelta(seconds=30))
        if NO_POCS_TAG in self._job.include_tags:
            return SelectionOutcome(poc_count=0, status="FAILED", error_code="NO_POCS")
        return SelectionOutcome(poc_count=STAND_IN_POC_COUNT, status="PROCESSING")

    @workflow.query(name="job")
    def job(self) -> VideoJob | None:
        return self._job


def fresh_video_queue() -> str:
    return f"video-test-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_videos(
    settings: Settings, mint: TokenMint, temporal: Client, *, selection_timeout: float | None = None
) -> AsyncIterator[ContentClient]:
    """The content app with the stand-in YearlyVideo polling the app's own video queue."""
    video_queue = fresh_video_queue()
    async with (
        # Unsandboxed: this module imports the whole app, which the sandbox would re-import per run.
        Worker(
            temporal,
            task_queue=video_queue,
            workflows=[StandInYearlyVideo],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
        running_content(settings, mint, temporal_client=temporal, video_task_queue=video_queue) as client,
    ):
        if selection_timeout is not None:
            client.runtime.queue.selection_timeout = selection_timeout
        yield client
