"""DojoIndexing keeps one dojo's search document up to date; DojoIndexReconciliation repairs drift.

The same machinery as PocIndexing (`workflows.read_model_indexing`), bound to the dojo's
activities. DojoIndexing runs per dojo under ``dojo-index/{tenant}/{dojo}``; realtime
signal-with-starts it after every committed change, writes that arrive while it runs only raise
the version it aims for, and it loads the dojo from realtime's database and upserts it (or
leaves a tombstone when the dojo is gone) until the read model holds the highest version asked
for. DojoIndexReconciliation (on its own schedule) walks realtime's versions page by page and
starts DojoIndexing for what is missing, stale or no longer there.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow

from workflows.read_model_indexing import (
    Key,
    activity_indexing_steps,
    activity_reconciliation_steps,
    index_until_current,
    key_of,
    reconcile_pages,
)
from workflows.read_model_indexing import compare_versions as compare_entity_versions

with workflow.unsafe.imports_passed_through():
    from workflows.dojo_indexing_types import (
        DELETE_DOJO_DOCUMENT_ACTIVITY,
        INDEX_DOJO_VERSIONS_RANGE_ACTIVITY,
        LOAD_DOJO_DOCUMENT_ACTIVITY,
        REALTIME_VERSIONS_PAGE_ACTIVITY,
        RECONCILIATION_WORKFLOW_NAME,
        REINDEX_SIGNAL,
        REQUEST_DOJO_REINDEX_ACTIVITY,
        UPSERT_DOJO_DOCUMENT_ACTIVITY,
        WORKFLOW_NAME,
        DojoDocument,
        DojoIndexingState,
        DojoIndexRequest,
        DojoReconciliationInput,
        DojoReindexRequests,
        DojoVersion,
        DojoVersionsPage,
        DojoVersionsPageRequest,
        DojoVersionsRangeRequest,
    )
    from workflows.poc_indexing_types import ReconciliationReport


@workflow.defn(name=WORKFLOW_NAME)
class DojoIndexing:
    def __init__(self) -> None:
        self._state = DojoIndexingState()

    @workflow.signal(name=REINDEX_SIGNAL)
    def reindex(self, request: DojoIndexRequest) -> None:
        self._state.requested_version = max(self._state.requested_version, request.version)

    @workflow.query(name="progress")
    def progress(self) -> DojoIndexingState:
        return self._state

    @workflow.run
    async def run(self, request: DojoIndexRequest) -> DojoIndexingState:
        state = self._state
        state.tenant_id, state.dojo_id = request.tenant_id, request.dojo_id
        state.requested_version = max(state.requested_version, request.version)
        await index_until_current(
            state,
            activity_indexing_steps(
                load_activity=LOAD_DOJO_DOCUMENT_ACTIVITY,
                upsert_activity=UPSERT_DOJO_DOCUMENT_ACTIVITY,
                delete_activity=DELETE_DOJO_DOCUMENT_ACTIVITY,
                document_type=DojoDocument,
                request=self._request,
                continue_as_new=self._continue_as_new,
                source="realtime",
                behind_error="RealtimeBehind",
                entity=state.dojo_id,
            ),
        )
        return state

    def _request(self, version: int) -> DojoIndexRequest:
        return DojoIndexRequest(tenant_id=self._state.tenant_id, dojo_id=self._state.dojo_id, version=version)

    def _continue_as_new(self, version: int) -> NoReturn:
        workflow.continue_as_new(self._request(version))


def dojo_key(item: DojoVersion) -> Key:
    return (item.tenant_id, item.dojo_id)


def dojo_request(item: DojoVersion, version: int) -> DojoIndexRequest:
    return DojoIndexRequest(tenant_id=item.tenant_id, dojo_id=item.dojo_id, version=version)


def compare_versions(
    realtime: list[DojoVersion], indexed: list[DojoVersion], report: ReconciliationReport
) -> list[DojoIndexRequest]:
    """What to reindex so the read model matches realtime over one key range."""
    return compare_entity_versions(realtime, indexed, report, key=dojo_key, request=dojo_request)


@workflow.defn(name=RECONCILIATION_WORKFLOW_NAME)
class DojoIndexReconciliation:
    def __init__(self) -> None:
        self._report = ReconciliationReport()
        self._input = DojoReconciliationInput()

    @workflow.query(name="progress")
    def progress(self) -> ReconciliationReport:
        return self._report

    @workflow.run
    async def run(self, request: DojoReconciliationInput) -> ReconciliationReport:
        self._input = request
        report = self._report = request.carried or ReconciliationReport()
        after = key_of(request.resume_after_tenant_id, request.resume_after_dojo_id)
        return await reconcile_pages(
            report,
            after,
            activity_reconciliation_steps(
                page_activity=REALTIME_VERSIONS_PAGE_ACTIVITY,
                page_request=lambda after: DojoVersionsPageRequest(
                    after_tenant_id=after[0] if after else None,
                    after_dojo_id=after[1] if after else None,
                    limit=self._input.page_size,
                    tenant_ids=self._input.tenant_ids,
                ),
                page_type=DojoVersionsPage,
                range_activity=INDEX_DOJO_VERSIONS_RANGE_ACTIVITY,
                range_request=lambda after, through: DojoVersionsRangeRequest(
                    after_tenant_id=after[0] if after else None,
                    after_dojo_id=after[1] if after else None,
                    through_tenant_id=through[0] if through else None,
                    through_dojo_id=through[1] if through else None,
                    tenant_ids=self._input.tenant_ids,
                ),
                range_type=list[DojoVersion],
                reindex_activity=REQUEST_DOJO_REINDEX_ACTIVITY,
                reindex_batch=lambda requests: DojoReindexRequests(
                    requests=requests, task_queue=self._input.task_queue
                ),
                key=dojo_key,
                request=dojo_request,
                continue_as_new=self._continue_as_new,
            ),
        )

    def _continue_as_new(self, after: Key, report: ReconciliationReport) -> NoReturn:
        workflow.continue_as_new(
            DojoReconciliationInput(
                page_size=self._input.page_size,
                task_queue=self._input.task_queue,
                tenant_ids=self._input.tenant_ids,
                resume_after_tenant_id=after[0],
                resume_after_dojo_id=after[1],
                carried=report,
            )
        )
