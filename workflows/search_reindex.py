"""SearchReindex: rebuild one tenant's documents, or every tenant's through a new index.

The API starts it for an ADMIN (their tenant) or a SUPERADMIN (any tenant, or all). It copies in
batches, each an idempotent activity, and reports progress through the "progress" query.
For every tenant at once the engine fills a new index and swaps aliases at the end, so searches
keep working throughout; a failure before the swap drops the half-built index.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.search_index_types import (
        ABORT_REINDEX_ACTIVITY,
        BEGIN_REINDEX_ACTIVITY,
        FINISH_REINDEX_ACTIVITY,
        REINDEX_BATCH_ACTIVITY,
        REINDEX_WORKFLOW_NAME,
        ReindexBatchRequest,
        ReindexBatchResult,
        ReindexInput,
        ReindexProgress,
        ReindexTarget,
    )

BATCH_TIMEOUT = timedelta(minutes=5)
FINISH_TIMEOUT = timedelta(minutes=30)
"""Rebuilding PostgreSQL's indexes concurrently, or catching up after a swap, takes a while."""
REINDEX_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)


def _describe(error: BaseException) -> str:
    message = str(error)
    current: BaseException | None = error
    while current is not None:
        message = str(current) or message
        current = current.__cause__
    return message


@workflow.defn(name=REINDEX_WORKFLOW_NAME)
class SearchReindex:
    def __init__(self) -> None:
        self._progress = ReindexProgress()

    @workflow.query(name="progress")
    def progress(self) -> ReindexProgress:
        return self._progress

    @workflow.run
    async def run(self, request: ReindexInput) -> ReindexProgress:
        progress = self._progress
        progress.tenant_id = request.tenant_id
        target: ReindexTarget | None = request.resume.target if request.resume else None
        swapped = False
        try:
            if target is None:
                target = await workflow.execute_activity(
                    BEGIN_REINDEX_ACTIVITY,
                    request,
                    result_type=ReindexTarget,
                    start_to_close_timeout=BATCH_TIMEOUT,
                    retry_policy=REINDEX_RETRY,
                )
            progress.source, progress.target, progress.total = target.source, target.target, target.total
            progress.phase = "COPYING"
            progress.copied = request.copied_before
            batch = request.resume or ReindexBatchRequest(target=target, limit=request.batch_size)
            while True:
                result: ReindexBatchResult = await workflow.execute_activity(
                    REINDEX_BATCH_ACTIVITY,
                    batch,
                    result_type=ReindexBatchResult,
                    start_to_close_timeout=BATCH_TIMEOUT,
                    retry_policy=REINDEX_RETRY,
                )
                progress.batches += 1
                progress.copied += result.copied
                progress.percent = min(99, progress.copied * 100 // max(1, progress.total))
                if result.done or result.last_tenant_id is None:
                    break
                batch = ReindexBatchRequest(
                    target=target,
                    after_tenant_id=result.last_tenant_id,
                    after_poc_id=result.last_poc_id,
                    limit=request.batch_size,
                )
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        ReindexInput(
                            tenant_id=request.tenant_id,
                            requested_by=request.requested_by,
                            batch_size=request.batch_size,
                            resume=batch,
                            copied_before=progress.copied,
                        )
                    )
            progress.phase = "SWAPPING"
            notes: list[str] = await workflow.execute_activity(
                FINISH_REINDEX_ACTIVITY,
                target,
                result_type=list[str],
                start_to_close_timeout=FINISH_TIMEOUT,
                retry_policy=REINDEX_RETRY,
            )
            swapped = True
        except BaseException as error:
            if isinstance(error, workflow.ContinueAsNewError):
                raise
            progress.status = "FAILED"
            progress.error = _describe(error)
            if target is not None and not swapped:
                await asyncio.shield(
                    workflow.execute_activity(
                        ABORT_REINDEX_ACTIVITY,
                        target,
                        start_to_close_timeout=BATCH_TIMEOUT,
                        retry_policy=REINDEX_RETRY,
                    )
                )
            raise ApplicationError(f"reindex failed: {progress.error}", type="ReindexFailed") from error
        progress.notes = notes
        progress.phase = "DONE"
        progress.status = "COMPLETED"
        progress.percent = 100
        return progress
