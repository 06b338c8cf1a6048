"""PocIndexing keeps one POC's search document up to date; PocIndexReconciliation repairs drift.

PocIndexing runs per POC under the deterministic id ``poc-index/{tenant}/{poc}``. Catalog
signal-with-starts it after every committed write, so writes that arrive while it runs only
raise the version it aims for: five quick edits cost one or two loads, not five. It loads the
POC from catalog at (at least) the highest requested version and upserts it, or deletes it
when catalog no longer has it, and loops until the read model holds that version. Activities
retry with exponential backoff; the read model ignores versions older than what it holds, so
retries, replays and out-of-order runs are harmless.

PocIndexReconciliation (on a Temporal Schedule) walks catalog's versions page by page, compares
each page's key range with the read model, and signal-with-starts PocIndexing for what is
missing, stale, or no longer in catalog.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.poc_indexing_types import (
        CATALOG_VERSIONS_PAGE_ACTIVITY,
        DELETE_DOCUMENT_ACTIVITY,
        INDEX_VERSIONS_RANGE_ACTIVITY,
        LOAD_POC_DOCUMENT_ACTIVITY,
        RECONCILIATION_WORKFLOW_NAME,
        REINDEX_SIGNAL,
        REQUEST_REINDEX_ACTIVITY,
        UPSERT_DOCUMENT_ACTIVITY,
        WORKFLOW_NAME,
        PocDocument,
        PocIndexingState,
        PocIndexRequest,
        PocVersion,
        ReconciliationInput,
        ReconciliationReport,
        ReindexRequests,
        UpsertOutcome,
        VersionsPage,
        VersionsPageRequest,
        VersionsRangeRequest,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)
INDEXING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=["InvalidDocument"],
)
"""About 8 minutes of attempts; after that the workflow fails and reconciliation repairs later."""
STALE_READ_LIMIT = 5
"""Catalog answered with an older version than requested (a lagging read): wait, then load again."""
RECONCILIATION_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name=WORKFLOW_NAME)
class PocIndexing:
    def __init__(self) -> None:
        self._state = PocIndexingState()

    @workflow.signal(name=REINDEX_SIGNAL)
    def reindex(self, request: PocIndexRequest) -> None:
        self._state.requested_version = max(self._state.requested_version, request.version)

    @workflow.query(name="progress")
    def progress(self) -> PocIndexingState:
        return self._state

    @workflow.run
    async def run(self, request: PocIndexRequest) -> PocIndexingState:
        state = self._state
        state.tenant_id, state.poc_id = request.tenant_id, request.poc_id
        state.requested_version = max(state.requested_version, request.version)
        stale_reads = 0
        while state.indexed_version < state.requested_version:
            target = state.requested_version
            state.passes += 1
            document: PocDocument | None = await workflow.execute_activity(
                LOAD_POC_DOCUMENT_ACTIVITY,
                PocIndexRequest(tenant_id=state.tenant_id, poc_id=state.poc_id, version=target),
                result_type=PocDocument,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=INDEXING_RETRY,
            )
            if document is None:
                await workflow.execute_activity(
                    DELETE_DOCUMENT_ACTIVITY,
                    PocIndexRequest(tenant_id=state.tenant_id, poc_id=state.poc_id, version=target),
                    result_type=UpsertOutcome,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=INDEXING_RETRY,
                )
                state.indexed_version = max(state.indexed_version, target)
            elif document.version < target:
                stale_reads += 1
                if stale_reads > STALE_READ_LIMIT:
                    raise ApplicationError(
                        f"catalog still serves version {document.version} of {state.poc_id},"
                        f" version {target} was requested",
                        type="CatalogBehind",
                        non_retryable=True,
                    )
                await workflow.sleep(timedelta(seconds=2**stale_reads))
                continue
            else:
                await workflow.execute_activity(
                    UPSERT_DOCUMENT_ACTIVITY,
                    document,
                    result_type=UpsertOutcome,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=INDEXING_RETRY,
                )
                # Not applied means the read model already holds this version or a newer one.
                state.indexed_version = max(state.indexed_version, document.version)
            stale_reads = 0
            if (
                state.indexed_version < state.requested_version
                and workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(
                    PocIndexRequest(
                        tenant_id=state.tenant_id, poc_id=state.poc_id, version=state.requested_version
                    )
                )
        return state


def compare_versions(
    catalog: list[PocVersion], indexed: list[PocVersion], report: ReconciliationReport
) -> list[PocIndexRequest]:
    """What to reindex so the read model matches catalog over one key range."""
    in_index = {(item.tenant_id, item.poc_id): item for item in indexed}
    in_catalog = {(item.tenant_id, item.poc_id) for item in catalog}
    requests: list[PocIndexRequest] = []
    for item in catalog:
        report.checked += 1
        current = in_index.get((item.tenant_id, item.poc_id))
        if current is None:
            if not item.deleted:
                report.missing += 1
                requests.append(
                    PocIndexRequest(tenant_id=item.tenant_id, poc_id=item.poc_id, version=item.version)
                )
        elif current.version < item.version:
            report.stale += 1
            requests.append(
                PocIndexRequest(tenant_id=item.tenant_id, poc_id=item.poc_id, version=item.version)
            )
        elif current.version > item.version:
            report.ahead += 1
    for item in indexed:
        if (item.tenant_id, item.poc_id) not in in_catalog and not item.deleted:
            report.orphaned += 1
            # Catalog has no such POC: PocIndexing finds nothing to load and leaves a tombstone.
            requests.append(
                PocIndexRequest(tenant_id=item.tenant_id, poc_id=item.poc_id, version=item.version + 1)
            )
    report.requested += len(requests)
    return requests


@workflow.defn(name=RECONCILIATION_WORKFLOW_NAME)
class PocIndexReconciliation:
    def __init__(self) -> None:
        self._report = ReconciliationReport()

    @workflow.query(name="progress")
    def progress(self) -> ReconciliationReport:
        return self._report

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        report = self._report = request.carried or ReconciliationReport()
        after_tenant, after_poc = request.resume_after_tenant_id, request.resume_after_poc_id
        while True:
            page: VersionsPage = await workflow.execute_activity(
                CATALOG_VERSIONS_PAGE_ACTIVITY,
                VersionsPageRequest(
                    after_tenant_id=after_tenant,
                    after_poc_id=after_poc,
                    limit=request.page_size,
                    tenant_ids=request.tenant_ids,
                ),
                result_type=VersionsPage,
                start_to_close_timeout=RECONCILIATION_TIMEOUT,
                retry_policy=INDEXING_RETRY,
            )
            last = page.items[-1] if page.items and page.has_more else None
            indexed: list[PocVersion] = await workflow.execute_activity(
                INDEX_VERSIONS_RANGE_ACTIVITY,
                VersionsRangeRequest(
                    after_tenant_id=after_tenant,
                    after_poc_id=after_poc,
                    through_tenant_id=last.tenant_id if last else None,
                    through_poc_id=last.poc_id if last else None,
                    tenant_ids=request.tenant_ids,
                ),
                result_type=list[PocVersion],
                start_to_close_timeout=RECONCILIATION_TIMEOUT,
                retry_policy=INDEXING_RETRY,
            )
            report.pages += 1
            requests = compare_versions(page.items, indexed, report)
            if requests:
                await workflow.execute_activity(
                    REQUEST_REINDEX_ACTIVITY,
                    ReindexRequests(requests=requests, task_queue=request.task_queue),
                    result_type=int,
                    start_to_close_timeout=RECONCILIATION_TIMEOUT,
                    retry_policy=INDEXING_RETRY,
                )
            if last is None:
                return report
            after_tenant, after_poc = last.tenant_id, last.poc_id
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    ReconciliationInput(
                        page_size=request.page_size,
                        task_queue=request.task_queue,
                        resume_after_tenant_id=after_tenant,
                        resume_after_poc_id=after_poc,
                        carried=report,
                        tenant_ids=request.tenant_ids,
                    )
                )
