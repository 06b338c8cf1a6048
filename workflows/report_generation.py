"""ReportGeneration: one content request of type REPORT, from PENDING to a file a person downloads.

Steps, each an activity taking one dataclass, all on the ``content`` task queue (its worker also
serves the catalog's selection and identity's profile read, each as that service's role):

1. claim the request (PENDING -> PROCESSING); a request that is gone or already ended (cancelled
   before it started) ends the run at once, without work;
2. read the owner's name and email (identity);
3. select the owner's POCs (catalog) into ``pocs.json`` under the run's work prefix: the POCs
   travel through storage, never through workflow history (a claim check);
4. record which POCs the report includes and summarise them (``summary.json``);
5. render the file (heartbeats carry its progress; the request's progress moves with it);
6. publish it under the request's result key;
7. mark the request COMPLETED, which also deletes the work prefix.

Progress is recorded in the request at every step (the API shows it), answered by the
``progress`` query, and shown in the Temporal UI as the workflow's current details ("Rendering
PDF — 40%") and in its memo; each activity carries a one-line summary.

A saga: the undo of a step that writes files (delete the work prefix, delete the result key) is
registered before the step runs, since a step can write and still be reported as failed. On a
failure, once the step's retries are spent, the request becomes FAILED with a message in its
own locale, then every registered undo runs, shielded from cancellation. On cancellation the
request becomes CANCELLED, the undos run the same way, and the workflow ends Cancelled. The end
is recorded before the files go, so a reader never sees a PROCESSING request whose files are
already gone, and a completion that won the race against a late cancel keeps its file.

Failures that mean "this request cannot be served" (too many POCs, an unknown format, an owner
who no longer exists) end the workflow normally with a FAILED result: it did what it is for and
nobody has to look at it. Anything else (retries spent, a bug) is recorded the same way for the
person, but fails the workflow too, so operators find it among failed workflows.

Storage-writing steps are cancelled with ``WAIT_CANCELLATION_COMPLETED``: an undo never runs
while the step it undoes may still write. Python's Temporal SDK then returns the result of a
step that finished despite the request to cancel it, so the run checks its own cancellation
flag after every step.

`ReportResult.status` is COMPLETED, FAILED or CANCELLED, or the status the request already had
when it could not be claimed (``NOT_FOUND`` when it does not exist).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.failures import describe_failure
    from workflows.report_generation_types import (
        AGGREGATE_REPORT_ACTIVITY,
        COMPLETE_REPORT_ACTIVITY,
        FAIL_REPORT_ACTIVITY,
        GROUP_BY_FIELDS,
        INVALID_REQUEST_ERROR,
        MAX_REPORT_POCS,
        PUBLISH_REPORT_ACTIVITY,
        REJECTION_ERROR_CODES,
        RENDER_REPORT_ACTIVITY,
        REPORT_FORMATS,
        REPORT_REQUEST_TYPE,
        STEP_AGGREGATE,
        STEP_CLAIM,
        STEP_COMPLETE,
        STEP_PROFILE,
        STEP_PUBLISH,
        STEP_RENDER,
        STEP_SELECT,
        STEP_STARTS_AT,
        UNSUPPORTED_FORMAT_ERROR,
        WORKFLOW_NAME,
        AggregateRequest,
        ClaimRequest,
        CompleteRequest,
        DiscardRequest,
        FailRequest,
        PocSelectionRequest,
        PublishedReport,
        PublishRequest,
        RenderedFile,
        RenderRequest,
        ReportAggregate,
        ReportJob,
        ReportProgress,
        ReportResult,
        ReportSpec,
        RequestOutcome,
        report_result_key,
        report_work_prefix,
        step_failed_code,
    )
    from workflows.request_saga import (
        DISCARD_RESULT,
        RequestSaga,
    )

AGGREGATE_TIMEOUT = timedelta(minutes=2)
PUBLISH_TIMEOUT = timedelta(minutes=2)
RENDER_TIMEOUT = timedelta(minutes=15)
RENDER_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""A renderer that stops heartbeating this long is presumed lost and is retried elsewhere.
Short, because a heartbeat's answer is also how a cancellation reaches the renderer."""

RENDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=list(REJECTION_ERROR_CODES),
)
"""Rendering is deterministic: a lost worker deserves a retry, a renderer's bug does not deserve five."""
STEP_LABELS: dict[str, str] = {
    STEP_CLAIM: "Claiming the request",
    STEP_PROFILE: "Reading the owner's profile",
    STEP_SELECT: "Selecting POCs",
    STEP_AGGREGATE: "Summarising POCs",
    STEP_RENDER: "Rendering {format}",
    STEP_PUBLISH: "Publishing the file",
    STEP_COMPLETE: "Completing the request",
}
"""The workflow's current details in the Temporal UI (operators read them, so English only)."""

DISCARD_WORK = "discard_work"


class _RejectedError(Exception):
    """A request the workflow itself finds unservable (checked before any activity can fail on it)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _rejection_of(error: BaseException) -> ApplicationError | None:
    """The non-retryable error of an unservable request inside an activity failure, if it is one."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type in REJECTION_ERROR_CODES:
        return cause
    return None


def _detail(error: ApplicationError, name: str) -> Any:
    """A named value from the first detail of `error`, when it is a mapping (e.g. count, limit)."""
    details = error.details
    first = details[0] if details else None
    return first.get(name) if isinstance(first, dict) else None


def format_label(report_format: str) -> str:
    return {"pdf": "PDF", "xlsx": "Excel", "csv": "CSV"}.get(report_format, report_format.upper())


@workflow.defn(name=WORKFLOW_NAME)
class ReportGeneration(RequestSaga[ReportJob, ReportProgress, ReportResult]):
    NOUN = "report"
    FAIL_ACTIVITY = FAIL_REPORT_ACTIVITY
    STEP_STARTS_AT = STEP_STARTS_AT

    def __init__(self) -> None:
        super().__init__(ReportProgress())
        self._format = ""

    @workflow.query(name="progress")
    def progress(self) -> ReportProgress:
        return self._progress

    @workflow.run
    async def run(self, job: ReportJob) -> ReportResult:
        workflow.upsert_search_attributes(
            [
                TENANT_ID.value_set(job.tenant_id),
                USER_ID.value_set(job.user_id),
                REQUEST_TYPE.value_set(REPORT_REQUEST_TYPE),
            ]
        )
        self._format = job.format
        return await self._run_saga(job, self._generate(job))

    async def _generate(self, job: ReportJob) -> ReportResult:
        prefix = report_work_prefix(job.tenant_id, job.user_id, job.request_id)
        result_key = report_result_key(job.tenant_id, job.user_id, job.request_id, job.format)
        try:
            status = await self._claim(ClaimRequest(tenant_id=job.tenant_id, request_id=job.request_id))
            if status is not None:
                return ReportResult(request_id=job.request_id, status=status)
            self._check(job)

            profile = await self._read_owner(
                job.tenant_id, job.user_id, "Read the owner's name and email (identity)"
            )

            self._undo_later(
                DISCARD_WORK, DiscardRequest(tenant_id=job.tenant_id, prefix=prefix), "Delete the work folder"
            )
            selection = await self._select(
                PocSelectionRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    from_date=job.from_date,
                    to_date=job.to_date,
                    include_tags=list(job.include_tags),
                    exclude_tags=list(job.exclude_tags),
                    limit=MAX_REPORT_POCS,
                ),
                "Select the owner's POCs (catalog) into the work folder",
            )
            self._progress.poc_count = selection.count

            spec = ReportSpec(
                title=job.title,
                owner_name=profile.display_name,
                owner_email=profile.email,
                format=job.format,
                locale=job.locale,
                time_zone=job.time_zone,
                generated_at=workflow.now().isoformat(),
                period_from=job.from_date,
                period_to=job.to_date,
                include_tags=list(job.include_tags),
                exclude_tags=list(job.exclude_tags),
                group_by=list(job.group_by),
            )
            aggregate: ReportAggregate = await self._step(
                STEP_AGGREGATE,
                AGGREGATE_REPORT_ACTIVITY,
                AggregateRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    spec=spec,
                    pocs_key=selection.key,
                ),
                result_type=ReportAggregate,
                start_to_close=AGGREGATE_TIMEOUT,
                summary=f"Record and summarise {selection.count} POCs",
            )
            rendered: RenderedFile = await self._step(
                STEP_RENDER,
                RENDER_REPORT_ACTIVITY,
                RenderRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    spec=spec,
                    pocs_key=selection.key,
                    summary_key=aggregate.summary_key,
                ),
                result_type=RenderedFile,
                start_to_close=RENDER_TIMEOUT,
                heartbeat_timeout=RENDER_HEARTBEAT_TIMEOUT,
                retry_policy=RENDER_RETRY,
                summary=f"Render the {format_label(job.format)} file ({selection.count} POCs)",
            )

            self._undo_later(
                DISCARD_RESULT,
                DiscardRequest(tenant_id=job.tenant_id, keys=[result_key]),
                "Delete the published file",
            )
            published: PublishedReport = await self._step(
                STEP_PUBLISH,
                PUBLISH_REPORT_ACTIVITY,
                PublishRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    rendered=rendered,
                    result_key=result_key,
                ),
                result_type=PublishedReport,
                start_to_close=PUBLISH_TIMEOUT,
                summary=f"Publish the file as {result_key}",
            )
            outcome: RequestOutcome = await self._step(
                STEP_COMPLETE,
                COMPLETE_REPORT_ACTIVITY,
                CompleteRequest(
                    tenant_id=job.tenant_id,
                    user_id=job.user_id,
                    request_id=job.request_id,
                    result_key=published.result_key,
                    media_type=published.media_type,
                    size=published.size,
                    poc_count=selection.count,
                ),
                result_type=RequestOutcome,
                summary="Mark the request COMPLETED and delete the work folder",
            )
        except ActivityError as error:
            if self._cancel_requested or is_cancelled_exception(error):
                raise asyncio.CancelledError from error
            return await self._fail(job, error)
        except _RejectedError as rejection:
            return await self._fail(job, rejection)

        if outcome.status != "COMPLETED":
            # The request ended some other way meanwhile (cancelled through the API): keep nothing.
            workflow.logger.warning("report %s ended as %s before completion", job.request_id, outcome.status)
            self._progress.status = outcome.status or "NOT_FOUND"
            await self._undo_shielded(keep_result=False)
            self._show(f"Ended as {self._progress.status}")
            return ReportResult(request_id=job.request_id, status=self._progress.status)
        self._compensations.clear()
        self._progress.status = "COMPLETED"
        self._progress.percent = 100
        self._progress.step = None
        self._show(f"Completed — 100% ({selection.count} POCs)")
        return ReportResult(
            request_id=job.request_id,
            status="COMPLETED",
            poc_count=selection.count,
            result_key=published.result_key,
        )

    def _check(self, job: ReportJob) -> None:
        """What the workflow can refuse by itself, before any work (the API validates too)."""
        if job.format not in REPORT_FORMATS:
            raise _RejectedError(UNSUPPORTED_FORMAT_ERROR, f"unsupported report format {job.format!r}")
        unknown = [field for field in job.group_by if field not in GROUP_BY_FIELDS]
        if unknown:
            raise _RejectedError(INVALID_REQUEST_ERROR, f"unknown grouping {', '.join(unknown)}")

    def _step_label(self, step: str) -> str:
        return STEP_LABELS[step].format(format=format_label(self._format))

    async def _fail(self, job: ReportJob, error: BaseException) -> ReportResult:
        """Record FAILED with a message the person understands, undo, and end (see the module doc)."""
        step = self._progress.step or STEP_CLAIM
        rejection = _rejection_of(error)
        if isinstance(error, _RejectedError):
            error_type: str | None = error.error_type
        else:
            error_type = rejection.type if rejection is not None else None
        error_code = REJECTION_ERROR_CODES[error_type] if error_type is not None else step_failed_code(step)
        request = FailRequest(
            tenant_id=job.tenant_id,
            request_id=job.request_id,
            locale=job.locale,
            error_code=error_code,
            step=step,
            format=job.format,
        )
        if rejection is not None:
            request.count = _detail(rejection, "count")
            request.limit = _detail(rejection, "limit")
        reason = describe_failure(error)
        workflow.logger.warning("report %s failed at %s (%s): %s", job.request_id, step, error_code, reason)
        self._progress.status = "FAILED"
        self._progress.error_code = error_code
        self._show(f"Failed at {step}: {error_code}")
        await self._record_end_shielded(job, cancelled=False, failure=request)
        if error_type is not None:
            return ReportResult(request_id=job.request_id, status="FAILED", error_code=error_code)
        raise ApplicationError(
            f"report {job.request_id} failed at {step}: {reason}",
            {"error_code": error_code, "step": step},
            type="ReportFailed",
            non_retryable=True,
        ) from error
