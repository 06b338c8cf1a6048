"""The ReportGeneration workflow's control flow, with stand-in activities on the time-skipping server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from temporal.converter import data_converter
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from tests.workflow.report_standins import MAIN_PATH, StandInReportActivities
from tests.workflow.standins import (
    SHARED_STEP_OF,
    activity_summaries,
    always,
    first_attempts,
    non_retryable,
    progress_of,
    replay_recorded,
    standin_worker,
    start_standin_run,
)
from workflows.report_generation import RENDER_RETRY, ReportGeneration
from workflows.report_generation_types import (
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    COMPLETE_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    FAIL_REPORT_ACTIVITY,
    MAX_REPORT_POCS,
    READ_OWNER_PROFILE_ACTIVITY,
    RENDER_REPORT_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    STEP_STARTS_AT,
    TASK_QUEUE,
    TOO_MANY_POCS_ERROR,
    WORKFLOW_NAME,
    ReportJob,
    ReportProgress,
    ReportResult,
    report_result_key,
    report_workflow_id,
)
from workflows.request_saga import STEP_RETRY

pytestmark = pytest.mark.workflow

HISTORIES = Path(__file__).parent / "histories" / "report_generation"

STEP_OF: dict[str, str] = {
    **SHARED_STEP_OF,
    "aggregate_report": "aggregate",
    RENDER_REPORT_ACTIVITY: "render",
    "publish_report": "publish",
    COMPLETE_REPORT_ACTIVITY: "complete",
}
"""Each activity of the main path -> the workflow's step (and its ``{step}_failed`` code)."""

ReportHandle = WorkflowHandle[object, ReportResult]


def report_job(report_format: str = "pdf", locale: str = "pt_BR") -> ReportJob:
    return ReportJob(
        request_id=str(uuid4()),
        tenant_id=str(uuid4()),
        user_id=str(uuid4()),
        title="Minhas POCs de 2026",
        format=report_format,
        locale=locale,
        from_date="2026-01-01T00:00:00-03:00",
        to_date="2027-01-01T00:00:00-03:00",
        include_tags=["api"],
        group_by=["language", "month"],
    )


@asynccontextmanager
async def report_run(
    env: WorkflowEnvironment, standins: StandInReportActivities, job: ReportJob | None = None
) -> AsyncIterator[tuple[ReportHandle, ReportJob]]:
    """The real worker set-up with stand-in activities, and a run of `job` on it."""
    job = job or report_job()
    async with standin_worker(env, TASK_QUEUE, standins, "report") as task_queue:
        workflow_id = report_workflow_id(job.tenant_id, job.request_id)
        yield await start_standin_run(env, task_queue, WORKFLOW_NAME, job, workflow_id, ReportResult), job


async def test_every_step_runs_in_order_and_only_the_published_file_remains(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInReportActivities(poc_count=42)
    async with report_run(time_skipping_env, standins) as (handle, job):
        result = await handle.result()
        progress = await progress_of(handle, ReportProgress)
        description = await handle.describe()
        history = await handle.fetch_history()

    result_key = report_result_key(job.tenant_id, job.user_id, job.request_id, "pdf")
    assert standins.calls == list(MAIN_PATH)
    assert result == ReportResult(
        request_id=job.request_id, status="COMPLETED", poc_count=42, result_key=result_key
    )
    assert standins.files == {result_key: f"pdf of {job.title}".encode()}
    assert standins.request.status == "COMPLETED"
    assert standins.request.progress == 100
    assert standins.request.progress_seen == sorted(standins.request.progress_seen)
    assert standins.request.progress_seen[:3] == [
        STEP_STARTS_AT["profile"],
        STEP_STARTS_AT["render"],
        STEP_STARTS_AT["publish"],
    ]
    assert progress.status == "COMPLETED"
    assert progress.percent == 100
    assert progress.completed_steps == [STEP_OF[name] for name in MAIN_PATH]
    assert progress.undone == []
    assert description.search_attributes.get(TENANT_ID.name) == [job.tenant_id]
    assert description.search_attributes.get(USER_ID.name) == [job.user_id]
    assert description.search_attributes.get(REQUEST_TYPE.name) == ["REPORT"]
    assert await description.memo_value("progress") == 100
    assert await description.memo_value("status") == "COMPLETED"

    # The select activity got the job's filters; the renderer the owner's profile and a fixed clock.
    selection = standins.arguments[SELECT_REPORT_POCS_ACTIVITY]
    assert (selection.include_tags, selection.limit) == (["api"], MAX_REPORT_POCS)
    render = standins.arguments[RENDER_REPORT_ACTIVITY]
    assert (render.spec.owner_name, render.spec.owner_email) == ("Ana Souza", "ana@acme.example")
    assert (render.spec.group_by, render.spec.locale) == (["language", "month"], "pt_BR")

    # Every activity carries a one-line summary for the Temporal UI.
    summaries = activity_summaries(history)
    assert len(summaries) == len(MAIN_PATH)
    assert all(summaries)
    assert summaries[4] == "Render the PDF file (42 POCs)"


@pytest.mark.parametrize("failing", MAIN_PATH)
async def test_a_failure_at_each_step_leaves_no_file_and_a_failed_request_with_a_message(
    time_skipping_env: WorkflowEnvironment, failing: str
) -> None:
    """Retries are spent first; the request then reads FAILED with a Portuguese sentence."""
    standins = StandInReportActivities(failures={failing: always(f"injected failure in {failing}")})
    async with report_run(time_skipping_env, standins) as (handle, _job):
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle, ReportProgress)

    step = STEP_OF[failing]
    position = MAIN_PATH.index(failing)
    attempts = (
        RENDER_RETRY.maximum_attempts if failing == RENDER_REPORT_ACTIVITY else STEP_RETRY.maximum_attempts
    )
    assert standins.calls[: position + attempts] == [*MAIN_PATH[:position], *[failing] * attempts]
    ending = standins.calls[position + attempts :]
    assert ending[0] == FAIL_REPORT_ACTIVITY
    assert set(ending[1:]) <= {DISCARD_REPORT_FILES_ACTIVITY}
    registered_undos = int(position >= MAIN_PATH.index(SELECT_REPORT_POCS_ACTIVITY)) + int(
        position >= MAIN_PATH.index("publish_report")
    )
    assert len(ending) == 1 + registered_undos
    assert standins.files == {}
    assert standins.request.status == "FAILED"
    assert standins.request.error_code == f"{step}_failed"
    assert standins.request.error_message is not None
    assert standins.request.error_message.startswith("Não foi possível concluir o relatório ao ")
    assert progress.status == "FAILED"
    assert progress.error_code == f"{step}_failed"
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ReportFailed"
    assert f"injected failure in {failing}" in cause.message


async def test_the_failure_message_is_in_the_request_locale(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInReportActivities(failures={RENDER_REPORT_ACTIVITY: always("renderer crashed")})
    async with report_run(time_skipping_env, standins, report_job(locale="en")) as (handle, _job):
        with pytest.raises(WorkflowFailureError):
            await handle.result()

    assert standins.request.error_message == (
        "The report could not be finished while drawing the file. Nothing was kept: "
        "please request it again in a few minutes."
    )


async def test_cancelling_during_rendering_deletes_every_file_and_ends_cancelled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInReportActivities(block_at=RENDER_REPORT_ACTIVITY)
    async with report_run(time_skipping_env, standins) as (handle, _job):
        await asyncio.wait_for(standins.blocked.wait(), timeout=30)
        assert standins.files  # the selection, the summary and a partial file exist now
        during = await progress_of(handle, ReportProgress)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle, ReportProgress)

    assert during.step == "render"
    assert during.percent == STEP_STARTS_AT["render"]
    assert isinstance(failure.value.cause, CancelledError)
    assert standins.cancelled == [RENDER_REPORT_ACTIVITY]  # the renderer stopped before the undo ran
    assert standins.calls[-2:] == [CANCEL_REPORT_ACTIVITY, DISCARD_REPORT_FILES_ACTIVITY]
    assert standins.files == {}
    assert standins.request.status == "CANCELLED"
    assert progress.status == "CANCELLED"
    assert progress.undone == ["discard_work"]


async def test_a_flaky_renderer_is_retried_with_backoff_and_the_report_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInReportActivities(failures={RENDER_REPORT_ACTIVITY: first_attempts(2, "worker lost")})
    async with report_run(time_skipping_env, standins) as (handle, _job):
        result = await handle.result()

    assert standins.calls.count(RENDER_REPORT_ACTIVITY) == 3
    assert DISCARD_REPORT_FILES_ACTIVITY not in standins.calls
    assert result.status == "COMPLETED"
    assert standins.request.status == "COMPLETED"


async def test_too_many_pocs_fails_at_once_with_the_count_and_the_limit(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A request that cannot be served is not retried, and the run ends normally with FAILED."""
    too_many = non_retryable(TOO_MANY_POCS_ERROR, "too many")

    def with_details(attempt: int) -> BaseException | None:
        error = too_many(attempt)
        assert isinstance(error, ApplicationError)
        return ApplicationError(
            error.message, {"count": 20001, "limit": MAX_REPORT_POCS}, type=error.type, non_retryable=True
        )

    standins = StandInReportActivities(failures={SELECT_REPORT_POCS_ACTIVITY: with_details})
    async with report_run(time_skipping_env, standins) as (handle, job):
        result = await handle.result()

    assert result == ReportResult(request_id=job.request_id, status="FAILED", error_code="too_many_pocs")
    assert standins.calls == [
        CLAIM_REPORT_ACTIVITY,
        READ_OWNER_PROFILE_ACTIVITY,
        SELECT_REPORT_POCS_ACTIVITY,
        FAIL_REPORT_ACTIVITY,
        DISCARD_REPORT_FILES_ACTIVITY,
    ]
    assert standins.files == {}
    assert standins.request.error_message == (
        "Este relatório teria 20.001 POCs, mas um relatório comporta no máximo 20.000. "
        "Escolha um período menor ou menos tags e peça de novo."
    )


async def test_an_unknown_format_is_refused_before_any_work(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInReportActivities()
    async with report_run(time_skipping_env, standins, report_job(report_format="docx")) as (handle, _job):
        result = await handle.result()

    assert result.status == "FAILED"
    assert result.error_code == "unsupported_format"
    assert standins.calls == [CLAIM_REPORT_ACTIVITY, FAIL_REPORT_ACTIVITY]
    assert standins.request.error_message is not None
    assert '"docx"' in standins.request.error_message


async def test_a_request_cancelled_before_it_started_is_left_alone(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInReportActivities()
    standins.request.status = "CANCELLED"
    async with report_run(time_skipping_env, standins) as (handle, job):
        result = await handle.result()

    assert result == ReportResult(request_id=job.request_id, status="CANCELLED")
    assert standins.calls == [CLAIM_REPORT_ACTIVITY]
    assert standins.request.status == "CANCELLED"


async def test_a_completion_that_finds_the_request_cancelled_keeps_no_file(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The API may end a request on its own; the run then deletes what it published."""
    standins = StandInReportActivities(block_at=COMPLETE_REPORT_ACTIVITY)
    async with report_run(time_skipping_env, standins) as (handle, _job):
        await asyncio.wait_for(standins.blocked.wait(), timeout=30)
        standins.request.status = "CANCELLED"
        standins.release.set()
        result = await handle.result()

    assert result.status == "CANCELLED"
    assert standins.files == {}
    assert standins.calls[-2:] == [DISCARD_REPORT_FILES_ACTIVITY, DISCARD_REPORT_FILES_ACTIVITY]


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda path: path.stem)
async def test_recorded_report_history_replays_on_the_current_code(path: Path) -> None:
    result = await replay_recorded(ReportGeneration, path, "report")
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class RendersFirst:
    """A careless edit of the workflow (rendering moved before the claim), to prove replay can fail."""

    @workflow.run
    async def run(self, job: ReportJob) -> None:
        await workflow.execute_activity(
            RENDER_REPORT_ACTIVITY, job, start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY
        )


async def test_a_reordered_workflow_is_caught_as_nondeterministic() -> None:
    replayer = Replayer(workflows=[RendersFirst], data_converter=data_converter)
    text = await asyncio.to_thread((HISTORIES / "completed.json").read_text)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json("report/completed", text), raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, workflow.NondeterminismError)


def test_every_report_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in HISTORIES.glob("*.json")} >= {
        "completed",
        "failed_at_render",
        "too_many_pocs",
        "cancelled_during_render",
    }
