"""The saga both content workflows run: ReportGeneration and YearlyVideo.

A content request goes PENDING -> PROCESSING -> COMPLETED through steps that are activities.
What both workflows share lives here, so the rules are written once:

- a step records its progress (query, Temporal UI details and memo) before it runs, and the run
  stops after a step that finished although the workflow was asked to stop;
- the undo of a step that writes is registered before the step runs (it can write and still fail);
- the end (FAILED or CANCELLED) is recorded before the files go, then every undo runs, newest
  first, both shielded from a cancellation that arrives meanwhile;
- a cancelled run first lets the current step wind down (``WAIT_CANCELLATION_COMPLETED``), so no
  undo runs beside a step that may still write.

The class is not a workflow itself: each workflow subclasses it, names its failure activity and
its noun for logs, and says how a step reads in the Temporal UI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from workflows.report_generation_types import (
        CANCEL_REPORT_ACTIVITY,
        CLAIM_REPORT_ACTIVITY,
        DISCARD_REPORT_FILES_ACTIVITY,
        READ_OWNER_PROFILE_ACTIVITY,
        REJECTION_ERROR_CODES,
        SELECT_REPORT_POCS_ACTIVITY,
        STEP_CLAIM,
        STEP_COMPLETE,
        STEP_PROFILE,
        STEP_SELECT,
        ClaimRequest,
        DiscardRequest,
        FailRequest,
        OwnerProfile,
        OwnerProfileRequest,
        PocSelection,
        PocSelectionRequest,
        ReportClaim,
        ReportRequestRef,
        RequestOutcome,
    )

STEP_TIMEOUT = timedelta(seconds=30)
SELECT_TIMEOUT = timedelta(minutes=2)
"""Up to the request type's maximum of POCs with their tags, written to storage."""
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=list(REJECTION_ERROR_CODES),
)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)
"""Recording the end and deleting files are idempotent and must not give up easily."""

DISCARD_RESULT = "discard_result"
"""The undo that deletes what the person downloads: skipped when the request completed after all."""


class SagaJob(Protocol):
    @property
    def tenant_id(self) -> str: ...

    @property
    def request_id(self) -> str: ...


class SagaProgress(Protocol):
    status: str
    percent: int
    step: str | None
    completed_steps: list[str]
    undone: list[str]


JobT = TypeVar("JobT", bound=SagaJob)
ProgressT = TypeVar("ProgressT", bound=SagaProgress)
ResultT = TypeVar("ResultT")


@dataclass
class Compensation:
    name: str
    argument: DiscardRequest
    summary: str
    """The undo activity's one-line summary in the Temporal UI."""


class RequestSaga(Generic[JobT, ProgressT, ResultT]):
    NOUN: ClassVar[str]
    """How logs name the request ("report", "video")."""
    FAIL_ACTIVITY: ClassVar[str]
    STEP_STARTS_AT: ClassVar[Mapping[str, int]]

    def __init__(self, progress: ProgressT) -> None:
        self._progress = progress
        self._compensations: list[Compensation] = []
        self._cancel_requested = False

    # -- the run -----------------------------------------------------------------------------------

    async def _run_saga(self, job: JobT, generation: Coroutine[Any, Any, ResultT]) -> ResultT:
        """Run the generation; on cancellation let it wind down, then record the end and undo."""
        self._show("Waiting to start")
        running = asyncio.ensure_future(generation)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            self._cancel_requested = True
            if not running.done():
                running.cancel()
            settled = await self._settle(running)
            if settled is not None:
                return settled  # the run had ended (completed or failed) before the cancel took effect
            await self._record_end_shielded(job, cancelled=True)
            raise

    async def _settle(self, generation: asyncio.Future[ResultT]) -> ResultT | None:
        """The generation's own end once cancelled: None when it stopped because of the cancel."""
        while True:
            try:
                return await asyncio.shield(generation)
            except asyncio.CancelledError:
                if generation.done():
                    return None
                workflow.logger.warning("cancellation repeated while the current step winds down")

    # -- steps -------------------------------------------------------------------------------------

    def _step_label(self, step: str) -> str:
        """How the step reads in the Temporal UI's current details."""
        raise NotImplementedError

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
        self._progress.percent = self.STEP_STARTS_AT[step]
        self._show(f"{self._step_label(step)} — {self._progress.percent}%")
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

    async def _claim(self, request: ClaimRequest) -> str | None:
        """PENDING -> PROCESSING: None when claimed, else the status the request already had (gone
        or ended, e.g. cancelled before it started), and the run ends without work."""
        claim: ReportClaim = await self._step(
            STEP_CLAIM,
            CLAIM_REPORT_ACTIVITY,
            request,
            result_type=ReportClaim,
            summary="Claim the request (PENDING -> PROCESSING)",
        )
        if claim.claimed:
            self._progress.status = "PROCESSING"
            return None
        status = claim.status or "NOT_FOUND"
        self._progress.status = status
        self._progress.step = None
        self._show(f"Nothing to do: the request is {status}")
        workflow.logger.info("%s request %s not claimed: %s", self.NOUN, request.request_id, status)
        return status

    async def _read_owner(self, tenant_id: str, user_id: str, summary: str) -> OwnerProfile:
        profile: OwnerProfile = await self._step(
            STEP_PROFILE,
            READ_OWNER_PROFILE_ACTIVITY,
            OwnerProfileRequest(tenant_id=tenant_id, user_id=user_id),
            result_type=OwnerProfile,
            summary=summary,
        )
        return profile

    async def _select(self, request: PocSelectionRequest, summary: str) -> PocSelection:
        """The owner's POCs into the work folder (catalog): they travel through storage."""
        selection: PocSelection = await self._step(
            STEP_SELECT,
            SELECT_REPORT_POCS_ACTIVITY,
            request,
            result_type=PocSelection,
            start_to_close=SELECT_TIMEOUT,
            summary=summary,
        )
        return selection

    def _undo_later(self, name: str, argument: DiscardRequest, summary: str) -> None:
        """Register the undo of the step about to run (before it runs: it may write and still fail)."""
        self._compensations.append(Compensation(name, argument, summary))

    # -- the end -----------------------------------------------------------------------------------

    async def _record_end_shielded(
        self, job: JobT, *, cancelled: bool, failure: FailRequest | None = None
    ) -> None:
        """Record the end, then undo: both run to the end even if the workflow is cancelled meanwhile."""

        async def record() -> None:
            await self._record_end(job, cancelled=cancelled, failure=failure)

        await self._shielded(record, f"the {self.NOUN}'s end is recorded", mark_cancel=True)

    async def _record_end(self, job: JobT, *, cancelled: bool, failure: FailRequest | None) -> None:
        if cancelled or failure is None:
            activity: str = CANCEL_REPORT_ACTIVITY
            argument: Any = ReportRequestRef(tenant_id=job.tenant_id, request_id=job.request_id)
            summary = "Record that the request was cancelled"
            status: str | None = "CANCELLED"
        else:
            activity, argument = self.FAIL_ACTIVITY, failure
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
            workflow.logger.error("could not record the end of %s %s: %s", self.NOUN, job.request_id, error)
        if cancelled:
            self._progress.status = status if status in ("COMPLETED", "FAILED") else "CANCELLED"
            self._show("Cancelled" if self._progress.status == "CANCELLED" else f"Ended as {status}")
        # A request that completed after all keeps its file; everything else goes.
        await self._undo(keep_result=status == "COMPLETED")

    async def _undo_shielded(self, *, keep_result: bool) -> None:
        async def undo() -> None:
            await self._undo(keep_result=keep_result)

        await self._shielded(undo, f"the {self.NOUN}'s files are deleted", mark_cancel=False)

    async def _shielded(self, work: Callable[[], Awaitable[None]], during: str, *, mark_cancel: bool) -> None:
        running = asyncio.ensure_future(work())
        while True:
            try:
                await asyncio.shield(running)
                return
            except asyncio.CancelledError:
                if running.done():
                    raise
                if mark_cancel:
                    self._cancel_requested = True
                workflow.logger.warning("cancellation ignored while %s", during)

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
                    summary=compensation.summary,
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
