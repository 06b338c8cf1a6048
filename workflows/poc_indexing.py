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

The loops themselves are shared with DojoIndexing (`workflows.read_model_indexing`); this module
binds them to catalog's and search's POC activities.
"""

from __future__ import annotations

from typing import NoReturn

from temporalio import workflow

from workflows.read_model_indexing import ACTIVITY_TIMEOUT as ACTIVITY_TIMEOUT
from workflows.read_model_indexing import INDEXING_RETRY as INDEXING_RETRY
from workflows.read_model_indexing import RECONCILIATION_TIMEOUT as RECONCILIATION_TIMEOUT
from workflows.read_model_indexing import STALE_READ_LIMIT as STALE_READ_LIMIT
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
        VersionsPage,
        VersionsPageRequest,
        VersionsRangeRequest,
    )


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
        await index_until_current(
            state,
            activity_indexing_steps(
                load_activity=LOAD_POC_DOCUMENT_ACTIVITY,
                upsert_activity=UPSERT_DOCUMENT_ACTIVITY,
                delete_activity=DELETE_DOCUMENT_ACTIVITY,
                document_type=PocDocument,
                request=self._request,
                continue_as_new=self._continue_as_new,
                source="catalog",
                behind_error="CatalogBehind",
                entity=state.poc_id,
            ),
        )
        return state

    def _request(self, version: int) -> PocIndexRequest:
        return PocIndexRequest(tenant_id=self._state.tenant_id, poc_id=self._state.poc_id, version=version)

    def _continue_as_new(self, version: int) -> NoReturn:
        workflow.continue_as_new(self._request(version))


def _poc_key(item: PocVersion) -> Key:
    return (item.tenant_id, item.poc_id)


def _poc_request(item: PocVersion, version: int) -> PocIndexRequest:
    return PocIndexRequest(tenant_id=item.tenant_id, poc_id=item.poc_id, version=version)


def compare_versions(
    catalog: list[PocVersion], indexed: list[PocVersion], report: ReconciliationReport
) -> list[PocIndexRequest]:
    """What to reindex so the read model matches catalog over one key range."""
    return compare_entity_versions(catalog, indexed, report, key=_poc_key, request=_poc_request)


@workflow.defn(name=RECONCILIATION_WORKFLOW_NAME)
class PocIndexReconciliation:
    def __init__(self) -> None:
        self._report = ReconciliationReport()
        self._input = ReconciliationInput()

    @workflow.query(name="progress")
    def progress(self) -> ReconciliationReport:
        return self._report

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationReport:
        self._input = request
        report = self._report = request.carried or ReconciliationReport()
        after = key_of(request.resume_after_tenant_id, request.resume_after_poc_id)
        return await reconcile_pages(
            report,
            after,
            activity_reconciliation_steps(
                page_activity=CATALOG_VERSIONS_PAGE_ACTIVITY,
                page_request=lambda after: VersionsPageRequest(
                    after_tenant_id=after[0] if after else None,
                    after_poc_id=after[1] if after else None,
                    limit=self._input.page_size,
                    tenant_ids=self._input.tenant_ids,
                ),
                page_type=VersionsPage,
                range_activity=INDEX_VERSIONS_RANGE_ACTIVITY,
                range_request=lambda after, through: VersionsRangeRequest(
                    after_tenant_id=after[0] if after else None,
                    after_poc_id=after[1] if after else None,
                    through_tenant_id=through[0] if through else None,
                    through_poc_id=through[1] if through else None,
                    tenant_ids=self._input.tenant_ids,
                ),
                range_type=list[PocVersion],
                reindex_activity=REQUEST_REINDEX_ACTIVITY,
                reindex_batch=lambda requests: ReindexRequests(
                    requests=requests, task_queue=self._input.task_queue
                ),
                key=_poc_key,
                request=_poc_request,
                continue_as_new=self._continue_as_new,
            ),
        )

    def _continue_as_new(self, after: Key, report: ReconciliationReport) -> NoReturn:
        workflow.continue_as_new(
            ReconciliationInput(
                page_size=self._input.page_size,
                task_queue=self._input.task_queue,
                resume_after_tenant_id=after[0],
                resume_after_poc_id=after[1],
                carried=report,
                tenant_ids=self._input.tenant_ids,
            )
        )
