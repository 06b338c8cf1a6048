"""YearlyVideo: one content request of type VIDEO, from PENDING to a recap video a person downloads.

Steps, each an activity taking one dataclass, all on the ``video`` task queue (its worker also
serves the catalog's selection and identity's profile read, each as that service's role):

1. claim the request (PENDING -> PROCESSING); a request gone or already ended ends the run at once;
2. read the owner's name (identity): the intro shows it;
3. select the period's POCs (catalog) into storage (a claim check). This answers the ``selection``
   update, which the API awaits (update-with-start): no POCs ends the request FAILED with
   ``NO_POCS`` before the API answers, so the person gets a 422 and the quota is not spent;
4. plan the timeline (``plan.json``) and copy the POCs' images beside it;
5. render the scenes, at most ``concurrency`` at once (the worker's setting, returned by the plan
   so a replay never reads settings): each scene is its own activity, keyed by request and index
   and skipped when its segment exists, heartbeating its progress; a worker that dies is found
   out by the heartbeat timeout and its scene retried elsewhere;
6. assemble: join the segments, mix the music, draw the poster; upload the video and the poster;
7. mark the request COMPLETED with both keys, which also deletes the work folders.

Progress is recorded in the request at every step and after every scene (the API shows it),
answered by the ``progress`` query, and shown in the Temporal UI as current details ("Rendering
scenes 7/21 — 43%"), in the memo, and as each activity's summary.

A saga, as ReportGeneration: the undo of a step that writes (delete the selection, the work
folder, the video and its poster) is registered before the step runs. On a failure, once the
step's retries are spent, the request becomes FAILED with a message in its locale, then every
undo runs, shielded from cancellation; on cancellation the request becomes CANCELLED the same
way and the run ends Cancelled. Scenes still rendering are cancelled (and awaited) before any
undo runs, so nothing is written after the files are deleted. Every undo is idempotent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.failures import describe_failure
    from workflows.report_generation_types import (
        INVALID_REQUEST_ERROR,
        REJECTION_ERROR_CODES,
        ClaimRequest,
        DiscardRequest,
        FailRequest,
        PocSelectionRequest,
        RequestOutcome,
        report_work_prefix,
        step_failed_code,
    )
    from workflows.request_saga import (
        DISCARD_RESULT,
        RequestSaga,
    )
    from workflows.yearly_video_types import (
        ASSEMBLE_VIDEO_ACTIVITY,
        COMPLETE_VIDEO_ACTIVITY,
        FAIL_VIDEO_ACTIVITY,
        MAX_VIDEO_POCS,
        NO_POCS_ERROR_CODE,
        PLAN_VIDEO_ACTIVITY,
        RENDER_SCENE_ACTIVITY,
        REQUEST_STEPS,
        SELECTION_UPDATE,
        STEP_ASSEMBLE,
        STEP_CLAIM,
        STEP_COMPLETE,
        STEP_PLAN,
        STEP_PROFILE,
        STEP_RENDER,
        STEP_SELECT,
        STEP_STARTS_AT,
        VIDEO_REQUEST_TYPE,
        WORKFLOW_NAME,
        AssembledVideo,
        AssembleRequest,
        CompleteVideoRequest,
        RenderedScene,
        SceneRequest,
        SelectionOutcome,
        VideoJob,
        VideoPlan,
        VideoPlanRequest,
        VideoProgress,
        VideoResult,
        VideoSpec,
        video_result_key,
        video_scene_key,
        video_thumbnail_key,
        video_work_prefix,
        video_year,
        year_period,
    )

PLAN_TIMEOUT = timedelta(minutes=2)
SCENE_TIMEOUT = timedelta(minutes=5)
SCENE_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
"""A scene that stops heartbeating this long is presumed lost (its worker died) and retried elsewhere."""
ASSEMBLE_TIMEOUT = timedelta(minutes=10)
ASSEMBLE_HEARTBEAT_TIMEOUT = timedelta(seconds=20)

RENDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=4,
    non_retryable_error_types=list(REJECTION_ERROR_CODES),
)
"""Scenes and assembly: a lost worker deserves retries, a deterministic renderer's bug not five."""


STEP_LABELS: dict[str, str] = {
    STEP_CLAIM: "Claiming the request",
    STEP_PROFILE: "Reading the owner's profile",
    STEP_SELECT: "Selecting POCs",
    STEP_PLAN: "Planning the timeline",
    STEP_RENDER: "Rendering scenes",
    STEP_ASSEMBLE: "Joining scenes and music",
    STEP_COMPLETE: "Completing the request",
}
"""The workflow's current details in the Temporal UI (operators read them, so English only)."""

DISCARD_SELECTION = "discard_selection"
DISCARD_WORK = "discard_work"


class _RejectedError(Exception):
    """A request the workflow itself ends as FAILED without retrying (no POCs in the period)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def _rejection_code(error: BaseException) -> str | None:
    """The request's error code when an activity refused the request itself (not retried)."""
    if isinstance(error, _RejectedError):
        return error.error_code
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type in REJECTION_ERROR_CODES:
        return REJECTION_ERROR_CODES[cause.type]
    return None


@workflow.defn(name=WORKFLOW_NAME)
class YearlyVideo(RequestSaga[VideoJob, VideoProgress, VideoResult]):
    NOUN = "video"
    FAIL_ACTIVITY = FAIL_VIDEO_ACTIVITY
    STEP_STARTS_AT = STEP_STARTS_AT

    def __init__(self) -> None:
        super().__init__(VideoProgress())
        self._selection: SelectionOutcome | None = None

    @workflow.query(name="progress")
    def progress(self) -> VideoProgress:
        return self._progress

    @workflow.update(name=SELECTION_UPDATE)
    async def selection(self) -> SelectionOutcome:
        """Answered once the POCs are selected (or the run ended first): the API's 202 or 422."""
        await workflow.wait_condition(lambda: self._selection is not None)
        return self._selection or SelectionOutcome(poc_count=0, status=self._progress.status)

    @workflow.run
    async def run(self, job: VideoJob) -> VideoResult:
        workflow.upsert_search_attributes(
            [
                TENANT_ID.value_set(job.tenant_id),
                USER_ID.value_set(job.user_id),
                REQUEST_TYPE.value_set(VIDEO_REQUEST_TYPE),
            ]
        )
        try:
            return await self._run_saga(job, self._generate(job))
        finally:
            self._answer_selection()

    def _answer_selection(self, poc_count: int | None = None) -> None:
        """Answer the ``selection`` update with the request's status now (once)."""
        if self._selection is None:
            status = self._progress.status
            self._selection = SelectionOutcome(
                poc_count=poc_count if poc_count is not None else self._progress.poc_count or 0,
                status="PROCESSING" if status == "PENDING" else status,
                error_code=self._progress.error_code,
            )

    def _spec(self, job: VideoJob, owner_name: str) -> VideoSpec:
        return VideoSpec(
            title=job.title,
            owner_name=owner_name,
            format=job.format,
            style=job.style,
            music_track=job.music_track,
            locale=job.locale,
            time_zone=job.time_zone,
            year=job.year,
            from_date=job.from_date,
            to_date=job.to_date,
            target_seconds=job.target_seconds,
            width=job.width,
            height=job.height,
        )

    def _period(self, job: VideoJob) -> tuple[str | None, str | None]:
        """The selection's [from, to): the explicit period, or the calendar year in the job's zone."""
        if job.year is None:
            return job.from_date, job.to_date
        return year_period(job.year, job.time_zone)

    async def _generate(self, job: VideoJob) -> VideoResult:
        work_prefix = video_work_prefix(job.tenant_id, job.user_id, job.request_id)
        selection_prefix = report_work_prefix(job.tenant_id, job.user_id, job.request_id)
        poc_count = 0
        try:
            status = await self._claim(
                ClaimRequest(
                    tenant_id=job.tenant_id,
                    request_id=job.request_id,
                    progress=STEP_STARTS_AT[STEP_PROFILE],
                    step=REQUEST_STEPS[STEP_SELECT],
                ),
            )
            if status is not None:
                return VideoResult(request_id=job.request_id, status=status)
            if job.year is None and not (job.from_date and job.to_date):
                raise _RejectedError(REJECTION_ERROR_CODES[INVALID_REQUEST_ERROR], "no year and no period")

            profile = await self._read_owner(job.tenant_id, job.user_id, "Read the owner's name (identity)")

            period_from, period_to = self._period(job)
            self._undo_later(
                DISCARD_SELECTION,
                DiscardRequest(tenant_id=job.tenant_id, prefix=selection_prefix),
                "Delete the selection",
            )
            selection = await self._select(
                PocSelectionRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    from_date=period_from,
                    to_date=period_to,
                    include_tags=list(job.include_tags),
                    exclude_tags=list(job.exclude_tags),
                    limit=MAX_VIDEO_POCS,
                ),
                "Select the period's POCs (catalog) into the work folder",
            )
            poc_count = selection.count
            self._progress.poc_count = poc_count
            if poc_count == 0:
                raise _RejectedError(NO_POCS_ERROR_CODE, "no POCs in the period")
            self._answer_selection(poc_count)

            spec = self._spec(job, profile.display_name)
            self._undo_later(
                DISCARD_WORK,
                DiscardRequest(tenant_id=job.tenant_id, prefix=work_prefix),
                "Delete the work folder",
            )
            plan: VideoPlan = await self._step(
                STEP_PLAN,
                PLAN_VIDEO_ACTIVITY,
                VideoPlanRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    spec=spec,
                    pocs_key=selection.key,
                ),
                result_type=VideoPlan,
                start_to_close=PLAN_TIMEOUT,
                summary=f"Plan the timeline of {poc_count} POCs",
            )
            scene_keys = await self._render_scenes(job, spec, plan)

            result_key = video_result_key(job.tenant_id, job.user_id, video_year(job), job.request_id)
            thumbnail_key = video_thumbnail_key(job.tenant_id, job.user_id, job.request_id)
            self._undo_later(
                DISCARD_RESULT,
                DiscardRequest(tenant_id=job.tenant_id, keys=[result_key, thumbnail_key]),
                "Delete the video and its poster",
            )
            assembled: AssembledVideo = await self._step(
                STEP_ASSEMBLE,
                ASSEMBLE_VIDEO_ACTIVITY,
                AssembleRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    spec=spec,
                    plan_key=plan.plan_key,
                    scene_keys=scene_keys,
                    result_key=result_key,
                    thumbnail_key=thumbnail_key,
                ),
                result_type=AssembledVideo,
                start_to_close=ASSEMBLE_TIMEOUT,
                heartbeat_timeout=ASSEMBLE_HEARTBEAT_TIMEOUT,
                retry_policy=RENDER_RETRY,
                summary=f"Join {plan.scene_count} scenes and the music; draw the poster",
            )
            outcome: RequestOutcome = await self._step(
                STEP_COMPLETE,
                COMPLETE_VIDEO_ACTIVITY,
                CompleteVideoRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    result_key=assembled.result_key,
                    thumbnail_key=assembled.thumbnail_key,
                    media_type=assembled.media_type,
                    size=assembled.size,
                    poc_count=poc_count,
                    work_prefixes=[work_prefix, selection_prefix],
                ),
                result_type=RequestOutcome,
                summary="Mark the request COMPLETED and delete the work folders",
            )
        except ActivityError as error:
            if self._cancel_requested or is_cancelled_exception(error):
                raise asyncio.CancelledError from error
            return await self._fail(job, error)
        except _RejectedError as rejection:
            return await self._fail(job, rejection)

        if outcome.status != "COMPLETED":
            workflow.logger.warning("video %s ended as %s before completion", job.request_id, outcome.status)
            self._progress.status = outcome.status or "NOT_FOUND"
            await self._undo_shielded(keep_result=False)
            self._show(f"Ended as {self._progress.status}")
            return VideoResult(request_id=job.request_id, status=self._progress.status, poc_count=poc_count)
        self._compensations.clear()
        self._progress.status = "COMPLETED"
        self._progress.percent = 100
        self._progress.step = None
        self._show(f"Completed — 100% ({poc_count} POCs, {plan.scene_count} scenes)")
        return VideoResult(
            request_id=job.request_id,
            status="COMPLETED",
            poc_count=poc_count,
            result_key=assembled.result_key,
            thumbnail_key=assembled.thumbnail_key,
        )

    async def _render_scenes(self, job: VideoJob, spec: VideoSpec, plan: VideoPlan) -> list[str]:
        """Every scene as its own activity, at most `plan.concurrency` at once; their keys in order.

        On the first failure (retries spent) or a cancellation, the scenes still running are
        cancelled and awaited before the error goes on, so no undo runs beside a live renderer.
        """
        self._progress.step = STEP_RENDER
        self._progress.percent = STEP_STARTS_AT[STEP_RENDER]
        self._progress.scene_count = plan.scene_count
        self._progress.scenes_done = 0
        self._show_render(plan.scene_count)
        span = STEP_STARTS_AT[STEP_ASSEMBLE] - STEP_STARTS_AT[STEP_RENDER]
        keys = [
            video_scene_key(job.tenant_id, job.user_id, job.request_id, index)
            for index in range(plan.scene_count)
        ]
        concurrency = max(1, plan.concurrency)
        pending: list[asyncio.Task[RenderedScene]] = []
        next_index = 0
        try:
            while next_index < plan.scene_count or pending:
                while next_index < plan.scene_count and len(pending) < concurrency:
                    index = next_index
                    pending.append(
                        asyncio.ensure_future(
                            workflow.execute_activity(
                                RENDER_SCENE_ACTIVITY,
                                SceneRequest(
                                    tenant_id=job.tenant_id,
                                    user_id=job.user_id,
                                    request_id=job.request_id,
                                    spec=spec,
                                    plan_key=plan.plan_key,
                                    index=index,
                                    scene_key=keys[index],
                                    progress=STEP_STARTS_AT[STEP_RENDER]
                                    + span * (index + 1) // plan.scene_count,
                                ),
                                result_type=RenderedScene,
                                start_to_close_timeout=SCENE_TIMEOUT,
                                heartbeat_timeout=SCENE_HEARTBEAT_TIMEOUT,
                                retry_policy=RENDER_RETRY,
                                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                                summary=f"Render scene {index + 1} of {plan.scene_count}",
                            )
                        )
                    )
                    next_index += 1
                done, pending = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                    self._progress.scenes_done += 1
                self._progress.percent = STEP_STARTS_AT[STEP_RENDER] + span * self._progress.scenes_done // (
                    plan.scene_count
                )
                self._show_render(plan.scene_count)
        except BaseException:
            for task in pending:
                task.cancel()
            if pending:
                await workflow.wait(pending)
            for task in pending:
                if not task.cancelled():
                    task.exception()  # retrieved: their end is the first failure's, already on its way
            raise
        if self._cancel_requested:
            raise asyncio.CancelledError
        self._progress.completed_steps.append(STEP_RENDER)
        return keys

    def _step_label(self, step: str) -> str:
        return STEP_LABELS[step]

    async def _fail(self, job: VideoJob, error: BaseException) -> VideoResult:
        """Record FAILED with a message the person understands, undo, and end (see the module doc)."""
        step = self._progress.step or STEP_CLAIM
        rejected = _rejection_code(error)
        error_code = rejected or step_failed_code(step)
        request = FailRequest(
            tenant_id=job.tenant_id,
            request_id=job.request_id,
            locale=job.locale,
            error_code=error_code,
            step=step,
            format=job.format,
        )
        reason = describe_failure(error)
        workflow.logger.warning("video %s failed at %s (%s): %s", job.request_id, step, error_code, reason)
        self._progress.status = "FAILED"
        self._progress.error_code = error_code
        self._show(f"Failed at {step}: {error_code}")
        await self._record_end_shielded(job, cancelled=False, failure=request)
        self._answer_selection()
        if rejected is not None:
            return VideoResult(
                request_id=job.request_id,
                status="FAILED",
                poc_count=self._progress.poc_count or 0,
                error_code=error_code,
            )
        raise ApplicationError(
            f"video {job.request_id} failed at {step}: {reason}",
            {"error_code": error_code, "step": step},
            type="VideoFailed",
            non_retryable=True,
        ) from error

    def _show_render(self, scene_count: int) -> None:
        done = f"{self._progress.scenes_done}/{scene_count}"
        self._show(f"{STEP_LABELS[STEP_RENDER]} {done} — {self._progress.percent}%")
