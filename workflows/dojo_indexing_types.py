"""Input and document types of the DojoIndexing workflow, shared by realtime (caller) and its worker.

Realtime starts DojoIndexing after every committed change of a dojo (its fields, its status, who
takes part), with `start_dojo_indexing`: signal-with-start under the deterministic id
`dojo_index_workflow_id`, so a retried commit never starts a second indexing and writes that
arrive while one runs only raise the version it aims for. The module imports no service, so the
realtime service calls it without importing search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from workflows.poc_indexing_types import ReconciliationReport

TASK_QUEUE = "indexing"
WORKFLOW_NAME = "DojoIndexing"
RECONCILIATION_WORKFLOW_NAME = "DojoIndexReconciliation"
REINDEX_SIGNAL = "reindex"
INDEXING_REQUEST_TYPE = "DOJO_INDEXING"
"""The RequestType search attribute of every dojo indexing run, whoever starts it."""
RECONCILIATION_REQUEST_TYPE = "DOJO_INDEX_RECONCILIATION"
RECONCILIATION_SCHEDULE_ID = "dojo-index-reconciliation"

LOAD_DOJO_DOCUMENT_ACTIVITY = "load_dojo_document"
"""Realtime: DojoIndexRequest -> DojoDocument | None (None: the dojo no longer exists)."""
REALTIME_VERSIONS_PAGE_ACTIVITY = "realtime_dojo_versions_page"
"""Realtime: DojoVersionsPageRequest -> DojoVersionsPage, every dojo of every tenant (or of some)."""
UPSERT_DOJO_DOCUMENT_ACTIVITY = "upsert_dojo_document"
DELETE_DOJO_DOCUMENT_ACTIVITY = "delete_dojo_document"
INDEX_DOJO_VERSIONS_RANGE_ACTIVITY = "index_dojo_versions_range"
REQUEST_DOJO_REINDEX_ACTIVITY = "request_dojo_reindex"

DOJO_STATUSES: tuple[str, ...] = ("SCHEDULED", "ACTIVE", "COMPLETED", "CANCELLED")
"""The seed's dojo statuses."""


def dojo_index_workflow_id(tenant_id: str, dojo_id: str) -> str:
    """Deterministic, so a retried write never starts a second indexing of the same dojo."""
    return f"dojo-index/{tenant_id}/{dojo_id}"


@dataclass
class DojoIndexRequest:
    tenant_id: str
    dojo_id: str
    version: int
    """The dojo's version after the write (``dojos.version``); older versions never overwrite newer ones."""


@dataclass
class DojoDocument:
    """What the search read model stores for one dojo (the seed's "Dojo Search Index").

    Instants are ISO 8601 with an offset. ``member_ids`` (everyone with a participant row, who left
    included, as the seed's visibility rule reads them) lets the read model show a private dojo
    to the people taking part in it; it is never returned by a search.
    """

    dojo_id: str
    tenant_id: str
    creator_id: str
    name: str
    description: str | None
    language: str
    status: str
    is_private: bool
    created_at: str
    version: int
    scheduled_start_time: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    participant_count: int = 0
    """People in the dojo now (participants and observers who have not left)."""
    member_ids: list[str] = field(default_factory=list)
    deleted: bool = False


@dataclass
class DojoVersion:
    tenant_id: str
    dojo_id: str
    version: int
    deleted: bool = False


@dataclass
class DojoVersionsPageRequest:
    """Keyset page over (tenant_id, dojo_id), both compared as text (UUIDs in canonical form)."""

    after_tenant_id: str | None = None
    after_dojo_id: str | None = None
    limit: int = 500
    tenant_ids: list[str] = field(default_factory=list)
    """Only these tenants (empty: every tenant)."""


@dataclass
class DojoVersionsPage:
    items: list[DojoVersion] = field(default_factory=list)
    has_more: bool = False


@dataclass
class DojoVersionsRangeRequest:
    """The read model's versions with after < (tenant_id, dojo_id) <= through (None: no bound)."""

    after_tenant_id: str | None = None
    after_dojo_id: str | None = None
    through_tenant_id: str | None = None
    through_dojo_id: str | None = None
    tenant_ids: list[str] = field(default_factory=list)


@dataclass
class DojoReindexRequests:
    requests: list[DojoIndexRequest] = field(default_factory=list)
    task_queue: str = TASK_QUEUE


@dataclass
class DojoReconciliationInput:
    page_size: int = 500
    task_queue: str = TASK_QUEUE
    """Where the requested DojoIndexing workflows run (tests use their own queue)."""
    tenant_ids: list[str] = field(default_factory=list)
    """Reconcile only these tenants; empty, the scheduled default: all."""
    resume_after_tenant_id: str | None = None
    resume_after_dojo_id: str | None = None
    carried: ReconciliationReport | None = None
    """Set by continue-as-new: where the previous run stopped, what it found."""


@dataclass
class DojoIndexingState:
    """The "progress" query of DojoIndexing and its result."""

    tenant_id: str = ""
    dojo_id: str = ""
    requested_version: int = 0
    indexed_version: int = 0
    passes: int = 0


@dataclass(frozen=True)
class IndexingStart:
    """The arguments of one signal-with-start of DojoIndexing (``Client.start_workflow``)."""

    workflow: str
    arg: DojoIndexRequest
    id: str
    task_queue: str
    start_signal: str
    start_signal_args: list[Any]
    id_reuse_policy: WorkflowIDReusePolicy
    search_attributes: TypedSearchAttributes


def dojo_indexing_start(request: DojoIndexRequest, *, task_queue: str = TASK_QUEUE) -> IndexingStart:
    """What `start_dojo_indexing` sends: pure, so a caller can check it without a server."""
    return IndexingStart(
        workflow=WORKFLOW_NAME,
        arg=request,
        id=dojo_index_workflow_id(request.tenant_id, request.dojo_id),
        task_queue=task_queue,
        start_signal=REINDEX_SIGNAL,
        start_signal_args=[request],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(TENANT_ID, request.tenant_id),
                SearchAttributePair(REQUEST_TYPE, INDEXING_REQUEST_TYPE),
            ]
        ),
    )


async def start_dojo_indexing(
    client: Client,
    request: DojoIndexRequest,
    *,
    task_queue: str = TASK_QUEUE,
    rpc_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, DojoIndexingState]:
    """Signal-with-start DojoIndexing for `request`; raises when Temporal cannot be reached.

    Call it after the transaction that wrote version `request.version` has committed. A failure
    must not undo the write: log it, and the reconciliation repairs the read model later.
    """
    start = dojo_indexing_start(request, task_queue=task_queue)
    handle: WorkflowHandle[Any, DojoIndexingState] = await client.start_workflow(
        start.workflow,
        start.arg,
        id=start.id,
        task_queue=start.task_queue,
        id_reuse_policy=start.id_reuse_policy,
        start_signal=start.start_signal,
        start_signal_args=start.start_signal_args,
        search_attributes=start.search_attributes,
        result_type=DojoIndexingState,
        rpc_timeout=rpc_timeout,
    )
    return handle
