"""The YearlyVideo workflow's control flow, with stand-in activities on the time-skipping server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from tests.workflow.standins import (
    SHARED_STEP_OF,
    activity_summaries,
    always,
    progress_of,
    replay_recorded,
    standin_worker,
    start_standin_run,
)
from tests.workflow.video_standins import MAIN_PATH, StandInVideoActivities
from workflows.report_generation_types import (
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
)
from workflows.request_saga import STEP_RETRY
from workflows.yearly_video import RENDER_RETRY, YearlyVideo
from workflows.yearly_video_types import (
    ASSEMBLE_VIDEO_ACTIVITY,
    COMPLETE_VIDEO_ACTIVITY,
    FAIL_VIDEO_ACTIVITY,
    PLAN_VIDEO_ACTIVITY,
    RENDER_SCENE_ACTIVITY,
    SELECTION_UPDATE,
    STEP_STARTS_AT,
    TASK_QUEUE,
    WORKFLOW_NAME,
    SelectionOutcome,
    VideoJob,
    VideoProgress,
    VideoResult,
    video_result_key,
    video_scene_key,
    video_thumbnail_key,
    video_workflow_id,
)

pytestmark = pytest.mark.workflow

HISTORIES = Path(__file__).parent / "histories" / "yearly_video"

STEP_OF: dict[str, str] = {
    **SHARED_STEP_OF,
    PLAN_VIDEO_ACTIVITY: "plan",
    RENDER_SCENE_ACTIVITY: "render",
    ASSEMBLE_VIDEO_ACTIVITY: "assemble",
    COMPLETE_VIDEO_ACTIVITY: "complete",
}

VideoHandle = WorkflowHandle[object, VideoResult]


def video_job(locale: str = "pt_BR") -> VideoJob:
    return VideoJob(
        request_id=str(uuid4()),
        tenant_id=str(uuid4()),
        user_id=str(uuid4()),
        title="Meu ano em POCs",
        format="square",
        style="aurora",
        music_track="bright",
        locale=locale,
        year=2025,
        include_tags=["api"],
    )


@asynccontextmanager
async def video_run(
    env: WorkflowEnvironment, standins: StandInVideoActivities, job: VideoJob | None = None
) -> AsyncIterator[tuple[VideoHandle, VideoJob]]:
    """The real worker set-up with stand-in activities, and a run of `job` on it."""
    job = job or video_job()
    async with standin_worker(env, TASK_QUEUE, standins, "video") as task_queue:
        workflow_id = video_workflow_id(job.tenant_id, job.request_id)
        yield await start_standin_run(env, task_queue, WORKFLOW_NAME, job, workflow_id, VideoResult), job


def scene_keys(job: VideoJob, count: int) -> list[str]:
    return [video_scene_key(job.tenant_id, job.user_id, job.request_id, index) for index in range(count)]


async def test_every_step_runs_and_only_the_video_and_its_poster_remain(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInVideoActivities(poc_count=42, scene_count=5)
    job = video_job()
    standins.files[scene_keys(job, 1)[0]] = b"scene 0"  # rendered by an earlier attempt: skipped
    async with video_run(time_skipping_env, standins, job) as (handle, job):
        result = await handle.result()
        progress = await progress_of(handle, VideoProgress)
        description = await handle.describe()
        history = await handle.fetch_history()

    result_key = video_result_key(job.tenant_id, job.user_id, 2025, job.request_id)
    thumbnail_key = video_thumbnail_key(job.tenant_id, job.user_id, job.request_id)
    assert result_key == f"videos/{job.tenant_id}/{job.user_id}/2025/{job.request_id}.mp4"
    assert result == VideoResult(
        request_id=job.request_id,
        status="COMPLETED",
        poc_count=42,
        result_key=result_key,
        thumbnail_key=thumbnail_key,
    )
    assert list(dict.fromkeys(standins.calls)) == list(MAIN_PATH)
    assert standins.calls.count(RENDER_SCENE_ACTIVITY) == 5
    assert standins.skipped_scenes == [0]
    assert standins.files == {
        result_key: b"".join(f"scene {index}".encode() for index in range(5)),
        thumbnail_key: b"jpeg",
    }
    assert standins.request.status == "COMPLETED"
    assert (standins.request.result_key, standins.request.thumbnail_key) == (result_key, thumbnail_key)
    assert standins.request.progress_seen == sorted(standins.request.progress_seen)
    assert STEP_STARTS_AT["render"] in standins.request.progress_seen
    assert progress.status == "COMPLETED"
    assert progress.percent == 100
    assert (progress.scene_count, progress.scenes_done) == (5, 5)
    assert progress.undone == []
    assert description.search_attributes.get(TENANT_ID.name) == [job.tenant_id]
    assert description.search_attributes.get(USER_ID.name) == [job.user_id]
    assert description.search_attributes.get(REQUEST_TYPE.name) == ["VIDEO"]
    assert await description.memo_value("status") == "COMPLETED"

    # The year became the selection's period in the job's time zone; the plan got the owner's name.
    selection = standins.arguments[SELECT_REPORT_POCS_ACTIVITY]
    assert (selection.from_date, selection.to_date) == (
        "2025-01-01T00:00:00-03:00",
        "2026-01-01T00:00:00-03:00",
    )
    assert selection.include_tags == ["api"]
    assert standins.arguments[PLAN_VIDEO_ACTIVITY].spec.owner_name == "Conceição Araújo"

    summaries = activity_summaries(history)
    assert all(summaries)
    assert "Render scene 3 of 5" in summaries


async def test_scenes_render_in_parallel_but_never_more_than_the_concurrency(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInVideoActivities(scene_count=9, concurrency=3, scene_seconds=0.3)
    async with video_run(time_skipping_env, standins) as (handle, _job):
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert standins.max_in_flight == 3
    assert sorted(standins.scene_attempts) == list(range(9))


async def test_a_scene_whose_worker_stops_heartbeating_is_retried_and_the_video_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInVideoActivities(scene_count=4, hang_scene=2)
    async with video_run(time_skipping_env, standins) as (handle, job):
        result = await handle.result()
        history = await handle.fetch_history()

    assert result.status == "COMPLETED"
    assert standins.scene_attempts[2] == [1, 2]
    timeouts = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.heartbeat_timeout.ToSeconds() > 0
    ]
    assert len(timeouts) >= 4  # every scene has a heartbeat timeout
    assert set(standins.files) == {
        video_result_key(job.tenant_id, job.user_id, 2025, job.request_id),
        video_thumbnail_key(job.tenant_id, job.user_id, job.request_id),
    }


@pytest.mark.parametrize("failing", [step for step in MAIN_PATH if step != RENDER_SCENE_ACTIVITY])
async def test_a_failure_at_each_step_leaves_no_file_and_a_failed_request_with_a_message(
    time_skipping_env: WorkflowEnvironment, failing: str
) -> None:
    await check_a_failure_leaves_no_file(time_skipping_env, failing)


async def test_a_failing_scene_cancels_the_others_in_backoff_and_leaves_no_file(
    dev_server_env: WorkflowEnvironment,
) -> None:
    """The scenes beside the failing one wait between their own retries when it gives up; they
    are cancelled there. This runs on the real server (see `dev_server_env`)."""
    await check_a_failure_leaves_no_file(dev_server_env, RENDER_SCENE_ACTIVITY)


async def check_a_failure_leaves_no_file(env: WorkflowEnvironment, failing: str) -> None:
    standins = StandInVideoActivities(
        scene_count=3, failures={failing: always(f"injected failure in {failing}")}
    )
    async with video_run(env, standins) as (handle, _job):
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle, VideoProgress)

    step = STEP_OF[failing]
    retry = RENDER_RETRY if failing in (RENDER_SCENE_ACTIVITY, ASSEMBLE_VIDEO_ACTIVITY) else STEP_RETRY
    assert standins.calls.count(failing) >= retry.maximum_attempts
    ending = standins.calls[standins.calls.index(FAIL_VIDEO_ACTIVITY) :]
    assert set(ending[1:]) <= {DISCARD_REPORT_FILES_ACTIVITY}
    assert standins.files == {}
    assert standins.request.status == "FAILED"
    assert standins.request.error_code == f"{step}_failed"
    assert standins.request.error_message is not None
    assert standins.request.error_message.startswith("Não foi possível concluir o vídeo ao ")
    assert progress.status == "FAILED"
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "VideoFailed"
    assert f"injected failure in {failing}" in cause.message


async def test_cancelling_while_scenes_render_stops_them_deletes_every_file_and_ends_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInVideoActivities(scene_count=6, block_at=RENDER_SCENE_ACTIVITY)
    async with video_run(time_skipping_env, standins) as (handle, _job):
        await asyncio.wait_for(standins.blocked.wait(), timeout=30)
        assert standins.files  # the selection, the plan and an image exist now
        during = await progress_of(handle, VideoProgress)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle, VideoProgress)

    assert during.step == "render"
    assert isinstance(failure.value.cause, CancelledError)
    assert standins.cancelled.count(RENDER_SCENE_ACTIVITY) == 2  # both running scenes stopped first
    assert CANCEL_REPORT_ACTIVITY in standins.calls
    assert standins.calls[-2:] == [DISCARD_REPORT_FILES_ACTIVITY, DISCARD_REPORT_FILES_ACTIVITY]
    assert standins.files == {}
    assert standins.request.status == "CANCELLED"
    assert progress.status == "CANCELLED"
    assert progress.undone == ["discard_work", "discard_selection"]


async def _update_with_start(
    env: WorkflowEnvironment, task_queue: str, job: VideoJob
) -> tuple[SelectionOutcome, VideoHandle]:
    """What the API does: start the run and wait for its selection in one call."""
    start: WithStartWorkflowOperation[object, VideoResult] = WithStartWorkflowOperation(
        WORKFLOW_NAME,
        job,
        id=video_workflow_id(job.tenant_id, job.request_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
        result_type=VideoResult,
    )
    outcome = await env.client.execute_update_with_start_workflow(
        SELECTION_UPDATE, start_workflow_operation=start, result_type=SelectionOutcome
    )
    return outcome, await start.workflow_handle()


async def test_no_pocs_answers_the_selection_update_with_a_failed_request(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The API's 422: the request is already FAILED with NO_POCS when the update answers."""
    standins = StandInVideoActivities(poc_count=0)
    job = video_job(locale="en")
    async with standin_worker(time_skipping_env, TASK_QUEUE, standins, "video") as task_queue:
        outcome, handle = await _update_with_start(time_skipping_env, task_queue, job)
        status_when_answered = standins.request.status
        result = await handle.result()

    assert outcome == SelectionOutcome(poc_count=0, status="FAILED", error_code="NO_POCS")
    assert status_when_answered == "FAILED"
    assert result == VideoResult(request_id=job.request_id, status="FAILED", error_code="NO_POCS")
    assert standins.calls == [
        CLAIM_REPORT_ACTIVITY,
        READ_OWNER_PROFILE_ACTIVITY,
        SELECT_REPORT_POCS_ACTIVITY,
        FAIL_VIDEO_ACTIVITY,
        DISCARD_REPORT_FILES_ACTIVITY,
    ]
    assert standins.files == {}
    assert standins.request.error_message == (
        "You have no POCs in this period, so there is no video to make. "
        "Choose another period or other tags and request it again."
    )


async def test_the_selection_update_answers_processing_before_any_scene_renders(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInVideoActivities(poc_count=7, block_at=PLAN_VIDEO_ACTIVITY)
    job = video_job()
    async with standin_worker(time_skipping_env, TASK_QUEUE, standins, "video") as task_queue:
        outcome, handle = await _update_with_start(time_skipping_env, task_queue, job)
        calls_when_answered = list(standins.calls)
        standins.release.set()
        result = await handle.result()

    assert outcome == SelectionOutcome(poc_count=7, status="PROCESSING")
    assert RENDER_SCENE_ACTIVITY not in calls_when_answered
    assert result.status == "COMPLETED"


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda path: path.stem)
async def test_recorded_video_history_replays_on_the_current_code(path: Path) -> None:
    result = await replay_recorded(YearlyVideo, path, "video")
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_every_video_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in HISTORIES.glob("*.json")} >= {
        "completed",
        "no_pocs",
        "failed_at_render",
        "cancelled_during_render",
    }
