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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.report_generation_types import (
        AGGREGATE_REPORT_ACTIVITY,
        CANCEL_REPORT_ACTIVITY,
        CLAIM_REPORT_ACTIVITY,
        COMPLETE_REPORT_ACTIVITY,
        DISCARD_REPORT_FILES_ACTIVITY,
        FAIL_REPORT_ACTIVITY,
        GROUP_BY_FIELDS,
        INVALID_REQUEST_ERROR,
        MAX_REPORT_POCS,
        PUBLISH_REPORT_ACTIVITY,
        READ_OWNER_PROFILE_ACTIVITY,
        REJECTION_ERROR_CODES,
        RENDER_REPORT_ACTIVITY,
        REPORT_FORMATS,
        REPORT_REQUEST_TYPE,
        SELECT_REPORT_POCS_ACTIVITY,
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
        ReportJob,
        ReportProgress,
        ReportRequestRef,
        ReportResult,
        ReportSpec,
        RequestOutcome,
        report_result_key,
        report_work_prefix,
        step_failed_code,
    )

STEP_TIMEOUT = timedelta(seconds=30)
SELECT_TIMEOUT = timedelta(minutes=2)
"""Up to `MAX_REPORT_POCS` POCs with their tags, written to storage."""
AGGREGATE_TIMEOUT = timedelta(minutes=2)
PUBLISH_TIMEOUT = timedelta(minutes=2)
RENDER_TIMEOUT = timedelta(minutes=15)
RENDER_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""A renderer that stops heartbeating this long is presumed lost and is retried elsewhere.
Short, because a heartbeat's answer is also how a cancellation reaches the renderer."""

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=list(REJECTION_ERROR_CODES),
)
RENDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=list(REJECTION_ERROR_CODES),
)
"""Rendering is deterministic: a lost worker deserves a retry, a renderer's bug does not deserve five."""
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)
"""Recording the end and deleting files are idempotent and must not give up easily."""

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
DISCARD_RESULT = "discard_result"


@dataclass
class _Compensation:
    name: str
    argument: DiscardRequest


class _RejectedError(Exception):
    """A request the workflow itself finds unservable (checked before any activity can fail on it)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def describe_failure(error: BaseException) -> str:
    """The innermost message of a failure chain, for logs and the workflow's failure."""
    message = str(error)
    current: BaseException | None = error
    while isinstance(current, FailureError):
        message = current.message or message
        current = current.cause
    return message


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
class ReportGeneration:
    def __init__(self) -> None:
        self._progress = ReportProgress()
        self._compensations: list[_Compensation] = []
        self._cancel_requested = False
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
        self._show("Waiting to start")
        generation = asyncio.ensure_future(self._generate(job))
        try:
            return await asyncio.shield(generation)
        except asyncio.CancelledError:
            self._cancel_requested = True
            if not generation.done():
                generation.cancel()
            settled = await self._settle(generation)
            if settled is not None:
                return settled  # the run had ended (completed or failed) before the cancel took effect
            await self._record_end_shielded(job, cancelled=True)
            raise

    async def _settle(self, generation: asyncio.Future[ReportResult]) -> ReportResult | None:
        """The generation's own end once cancelled: None when it stopped because of the cancel."""
        while True:
            try:
                return await asyncio.shield(generation)
            except asyncio.CancelledError:
                if generation.done():
                    return None
                workflow.logger.warning("cancellation repeated while the current step winds down")

    async def _generate(self, job: ReportJob) -> ReportResult:
        prefix = report_work_prefix(job.tenant_id, job.user_id, job.request_id)
        result_key = report_result_key(job.tenant_id, job.user_id, job.request_id, job.format)
        try:
            claim: ReportClaim = await self._step(
                STEP_CLAIM,
                CLAIM_REPORT_ACTIVITY,
                ClaimRequest(tenant_id=job.tenant_id, request_id=job.request_id),
                result_type=ReportClaim,
                summary="Claim the request (PENDING -> PROCESSING)",
            )
            if not claim.claimed:
                status = claim.status or "NOT_FOUND"
                self._progress.status = status
                self._progress.step = None
                self._show(f"Nothing to do: the request is {status}")
                workflow.logger.info("report request %s not claimed: %s", job.request_id, status)
                return ReportResult(request_id=job.request_id, status=status)
            self._progress.status = "PROCESSING"
            self._check(job)

            profile: OwnerProfile = await self._step(
                STEP_PROFILE,
                READ_OWNER_PROFILE_ACTIVITY,
                OwnerProfileRequest(tenant_id=job.tenant_id, user_id=job.user_id),
                result_type=OwnerProfile,
                summary="Read the owner's name and email (identity)",
            )

            self._compensations.append(
                _Compensation(DISCARD_WORK, DiscardRequest(tenant_id=job.tenant_id, prefix=prefix))
            )
            selection: PocSelection = await self._step(
                STEP_SELECT,
                SELECT_REPORT_POCS_ACTIVITY,
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
                result_type=PocSelection,
                start_to_close=SELECT_TIMEOUT,
                summary="Select the owner's POCs (catalog) into the work folder",
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

            self._compensations.append(
                _Compensation(DISCARD_RESULT, DiscardRequest(tenant_id=job.tenant_id, keys=[result_key]))
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

    async def _step(
        self,
        step: str,
        activity: str,
        argument: Any,
        *,
        result_type: type,
        summary: str,
        start_to_close: timedelta = STEP_TIMEOUT,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy = STEP_RETRY,
    ) -> Any:
        self._progress.step = step
        self._progress.percent = STEP_STARTS_AT[step]
        self._show(
            f"{STEP_LABELS[step].format(format=format_label(self._format))} — {self._progress.percent}%"
        )
        result = await workflow.execute_activity(
            activity,
            argument,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=summary,
        )
        if self._cancel_requested and step != STEP_COMPLETE:
            # The step finished although it was asked to stop: the run stops here all the same.
            raise asyncio.CancelledError
        self._progress.completed_steps.append(step)
        return result

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

    async def _record_end_shielded(
        self, job: ReportJob, *, cancelled: bool, failure: FailRequest | None = None
    ) -> None:
        """Record the end, then undo: both run to the end even if the workflow is cancelled meanwhile."""
        work = asyncio.ensure_future(self._record_end(job, cancelled=cancelled, failure=failure))
        while True:
            try:
                await asyncio.shield(work)
                return
            except asyncio.CancelledError:
                if work.done():
                    raise
                self._cancel_requested = True
                workflow.logger.warning("cancellation ignored while the report's end is recorded")

    async def _record_end(self, job: ReportJob, *, cancelled: bool, failure: FailRequest | None) -> None:
        if cancelled or failure is None:
            activity: str = CANCEL_REPORT_ACTIVITY
            argument: Any = ReportRequestRef(tenant_id=job.tenant_id, request_id=job.request_id)
            summary = "Record that the request was cancelled"
            status: str | None = "CANCELLED"
        else:
            activity, argument = FAIL_REPORT_ACTIVITY, failure
            summary = f"Record that the request failed ({failure.error_code})"
            status = "FAILED"
        try:
            outcome: RequestOutcome = await workflow.execute_activity(
                activity,
                argument,
                result_type=RequestOutcome,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=RECORD_RETRY,
                summary=summary,
            )
            status = outcome.status
        except ActivityError as error:
            workflow.logger.error("could not record the end of report %s: %s", job.request_id, error)
        if cancelled:
            self._progress.status = status if status in ("COMPLETED", "FAILED") else "CANCELLED"
            self._show("Cancelled" if self._progress.status == "CANCELLED" else f"Ended as {status}")
        # A request that completed after all keeps its file; everything else goes.
        await self._undo(keep_result=status == "COMPLETED")

    async def _undo_shielded(self, *, keep_result: bool) -> None:
        work = asyncio.ensure_future(self._undo(keep_result=keep_result))
        while True:
            try:
                await asyncio.shield(work)
                return
            except asyncio.CancelledError:
                if work.done():
                    raise
                workflow.logger.warning("cancellation ignored while the report's files are deleted")

    async def _undo(self, *, keep_result: bool) -> None:
        while self._compensations:
            compensation = self._compensations.pop()
            if keep_result and compensation.name == DISCARD_RESULT:
                continue
            try:
                await workflow.execute_activity(
                    DISCARD_REPORT_FILES_ACTIVITY,
                    compensation.argument,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=RECORD_RETRY,
                    summary="Delete the published file"
                    if compensation.name == DISCARD_RESULT
                    else "Delete the work folder",
                )
            except ActivityError as error:
                workflow.logger.error("undo %s failed: %s", compensation.name, error)
                continue
            self._progress.undone.append(compensation.name)

    def _show(self, line: str) -> None:
        """The run's state in the Temporal UI: current details, and a memo that lists can show."""
        workflow.set_current_details(line)
        workflow.upsert_memo(
            {"progress": self._progress.percent, "step": self._progress.step, "status": self._progress.status}
        )
