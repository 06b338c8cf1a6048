"""Side effects on the search read model, for the indexing task queue.

The engine (PostgreSQL pool or OpenSearch client) and the Temporal client are injected once per
worker. Every write is idempotent by POC version, so Temporal may retry any of these freely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from api.common.settings import Settings
from api.search.config import build_engine
from api.search.engine import SearchEngine
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from workflows.poc_indexing_types import (
    DELETE_DOCUMENT_ACTIVITY,
    INDEX_VERSIONS_RANGE_ACTIVITY,
    INDEXING_REQUEST_TYPE,
    RECONCILIATION_SCHEDULE_ID,
    RECONCILIATION_WORKFLOW_NAME,
    REINDEX_SIGNAL,
    REQUEST_REINDEX_ACTIVITY,
    TASK_QUEUE,
    UPSERT_DOCUMENT_ACTIVITY,
    WORKFLOW_NAME,
    PocDocument,
    PocIndexRequest,
    PocVersion,
    ReconciliationInput,
    ReindexRequests,
    UpsertOutcome,
    VersionsRangeRequest,
    poc_index_workflow_id,
)
from workflows.search_index_types import (
    ABORT_REINDEX_ACTIVITY,
    BEGIN_REINDEX_ACTIVITY,
    CREATE_TENANT_INDEX_ACTIVITY,
    DROP_TENANT_INDEX_ACTIVITY,
    FINISH_REINDEX_ACTIVITY,
    REINDEX_BATCH_ACTIVITY,
    ReindexBatchRequest,
    ReindexBatchResult,
    ReindexInput,
    ReindexTarget,
    TenantIndexRequest,
)

RECONCILIATION_INTERVAL = timedelta(minutes=15)
SIGNAL_CONCURRENCY = 16

RequestT = TypeVar("RequestT")


def key_of(tenant_id: str | None, entity_id: str | None) -> tuple[str, str] | None:
    """A keyset position from a request's two optional fields: None unless both are set."""
    return (tenant_id, entity_id) if tenant_id is not None and entity_id is not None else None


def require_identity(tenant_id: str, entity_id: str, version: int) -> None:
    """A document the read model cannot key is refused for good, not retried."""
    if not tenant_id or not entity_id or version < 0:
        raise ApplicationError(
            "document without tenant, id or version", type="InvalidDocument", non_retryable=True
        )


def upsert_outcome(kind: str, entity_id: str, version: int, applied: bool) -> UpsertOutcome:
    """Log what an upsert did (not applied: the read model already held that version or a newer one)."""
    activity.logger.info(
        "%s %s version %d %s", kind, entity_id, version, "indexed" if applied else "already current"
    )
    return UpsertOutcome(applied=applied)


async def signal_each(requests: Sequence[RequestT], start: Callable[[RequestT], Awaitable[object]]) -> int:
    """Start (signal-with-start) indexing for every request, at most `SIGNAL_CONCURRENCY` at a time."""
    limit = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def request(item: RequestT) -> None:
        async with limit:
            await start(item)

    await asyncio.gather(*(request(item) for item in requests))
    return len(requests)


def interval_schedule(
    workflow_name: str,
    workflow_input: object,
    *,
    schedule_id: str,
    task_queue: str,
    request_type: str,
    interval: timedelta,
) -> Schedule:
    """A schedule starting `workflow_name` every `interval`, skipping a run while one is running."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow_name,
            workflow_input,
            id=schedule_id,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(REQUEST_TYPE, request_type)]),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def create_or_update_schedule(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the schedule, or bring an existing one up to date; True when created."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return False
    return True


class SearchActivities:
    """Search's activities, sharing one engine and (for reindex requests) one Temporal client."""

    def __init__(
        self,
        engine: SearchEngine,
        *,
        temporal_client: Client | None = None,
        settings: Settings | None = None,
        owns_engine: bool = True,
    ) -> None:
        self.engine = engine
        self._temporal_client = temporal_client
        self._settings = settings
        self._owns_engine = owns_engine
        self._started = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(build_engine(settings), settings=settings)

    async def __aenter__(self) -> Self:
        await self._ensure_started()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._owns_engine and self._started:
            await self.engine.close()
            self._started = False

    async def _ensure_started(self) -> None:
        """A worker built without entering the provider still gets a started engine."""
        if not self._owns_engine or self._started:
            return
        async with self._lock:
            if not self._started:
                await self.engine.start()
                self._started = True

    async def _client(self) -> Client:
        if self._temporal_client is None:
            if self._settings is None:
                raise RuntimeError(
                    "SearchActivities needs a Temporal client or settings to request reindexing"
                )
            self._temporal_client = await connect_client(self._settings)
        return self._temporal_client

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.upsert_document,
            self.delete_document,
            self.index_versions_range,
            self.request_poc_reindex,
            self.create_tenant_index,
            self.drop_tenant_index,
            self.begin_reindex,
            self.reindex_batch,
            self.finish_reindex,
            self.abort_reindex,
        ]

    # -- indexing ---------------------------------------------------------------------------------

    @activity.defn(name=UPSERT_DOCUMENT_ACTIVITY)
    async def upsert_document(self, document: PocDocument) -> UpsertOutcome:
        """Store the POC unless the read model holds this version or a newer one already."""
        await self._ensure_started()
        require_identity(document.tenant_id, document.poc_id, document.version)
        applied = await self.engine.upsert(document)
        return upsert_outcome("poc", document.poc_id, document.version, applied)

    @activity.defn(name=DELETE_DOCUMENT_ACTIVITY)
    async def delete_document(self, request: PocIndexRequest) -> UpsertOutcome:
        await self._ensure_started()
        applied = await self.engine.delete(request.tenant_id, request.poc_id, request.version)
        return UpsertOutcome(applied=applied)

    # -- reconciliation -----------------------------------------------------------------------------

    @activity.defn(name=INDEX_VERSIONS_RANGE_ACTIVITY)
    async def index_versions_range(self, request: VersionsRangeRequest) -> list[PocVersion]:
        await self._ensure_started()
        after = key_of(request.after_tenant_id, request.after_poc_id)
        through = key_of(request.through_tenant_id, request.through_poc_id)
        return await self.engine.versions(after, through, tenant_ids=request.tenant_ids)

    @activity.defn(name=REQUEST_REINDEX_ACTIVITY)
    async def request_poc_reindex(self, batch: ReindexRequests) -> int:
        """Signal-with-start PocIndexing for each POC, the way catalog does after a write."""
        client = await self._client()
        return await signal_each(
            batch.requests, lambda item: start_poc_indexing(client, item, task_queue=batch.task_queue)
        )

    # -- tenant lifecycle (onboarding) -----------------------------------------------------------------

    @activity.defn(name=CREATE_TENANT_INDEX_ACTIVITY)
    async def create_tenant_index(self, request: TenantIndexRequest) -> None:
        await self._ensure_started()
        await self.engine.create_tenant_index(request.tenant_id)

    @activity.defn(name=DROP_TENANT_INDEX_ACTIVITY)
    async def drop_tenant_index(self, request: TenantIndexRequest) -> int:
        """The compensation of `create_tenant_index`; idempotent."""
        await self._ensure_started()
        return await self.engine.drop_tenant_index(request.tenant_id)

    # -- reindex -------------------------------------------------------------------------------------

    @activity.defn(name=BEGIN_REINDEX_ACTIVITY)
    async def begin_reindex(self, request: ReindexInput) -> ReindexTarget:
        await self._ensure_started()
        return await self.engine.begin_reindex(request.tenant_id, _started_at())

    @activity.defn(name=REINDEX_BATCH_ACTIVITY)
    async def reindex_batch(self, request: ReindexBatchRequest) -> ReindexBatchResult:
        await self._ensure_started()
        after = key_of(request.after_tenant_id, request.after_poc_id)
        return await self.engine.reindex_batch(request.target, after, request.limit)

    @activity.defn(name=FINISH_REINDEX_ACTIVITY)
    async def finish_reindex(self, target: ReindexTarget) -> list[str]:
        await self._ensure_started()
        return await self.engine.finish_reindex(target)

    @activity.defn(name=ABORT_REINDEX_ACTIVITY)
    async def abort_reindex(self, target: ReindexTarget) -> None:
        await self._ensure_started()
        await self.engine.abort_reindex(target)


def _started_at() -> str:
    """A little before now: a write racing the start of the copy is caught up after the swap."""
    return (datetime.now(UTC) - timedelta(seconds=5)).isoformat()


async def start_poc_indexing(
    client: Client, request: PocIndexRequest, *, task_queue: str = TASK_QUEUE
) -> None:
    """Signal-with-start, exactly as catalog starts indexing after a committed write."""
    await client.start_workflow(
        WORKFLOW_NAME,
        request,
        id=poc_index_workflow_id(request.tenant_id, request.poc_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=REINDEX_SIGNAL,
        start_signal_args=[request],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(TENANT_ID, request.tenant_id),
                SearchAttributePair(REQUEST_TYPE, INDEXING_REQUEST_TYPE),
            ]
        ),
    )


def reconciliation_schedule(
    *, interval: timedelta = RECONCILIATION_INTERVAL, task_queue: str = TASK_QUEUE, page_size: int = 500
) -> Schedule:
    return interval_schedule(
        RECONCILIATION_WORKFLOW_NAME,
        ReconciliationInput(page_size=page_size, task_queue=task_queue),
        schedule_id=RECONCILIATION_SCHEDULE_ID,
        task_queue=task_queue,
        request_type="POC_INDEX_RECONCILIATION",
        interval=interval,
    )


async def ensure_reconciliation_schedule(
    client: Client,
    *,
    interval: timedelta = RECONCILIATION_INTERVAL,
    task_queue: str = TASK_QUEUE,
    page_size: int = 500,
    schedule_id: str = RECONCILIATION_SCHEDULE_ID,
) -> bool:
    """Create the reconciliation schedule, or bring an existing one up to date; True when created.

    The schedule's overlap policy (skip) keeps a slow run from piling up behind itself.
    """
    schedule = reconciliation_schedule(interval=interval, task_queue=task_queue, page_size=page_size)
    return await create_or_update_schedule(client, schedule_id, schedule)
