"""Dojo indexing's activities, for the indexing task queue: realtime's reads and search's writes.

`RealtimeDojoActivities` reads the realtime service's database (``dojo``) as its application
role, like `activities.catalog` reads the catalog: a dojo is loaded inside its own tenant's
transaction, so row-level security applies as in the API, and only the reconciliation's listing
runs in an explicit platform scope, across tenants.

`DojoSearchActivities` writes the search read model's dojos (``engine.dojos``), sharing the POC
activities' engine in a worker. Every write is idempotent by dojo version, so Temporal may retry
any of these freely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Self

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
)
from temporalio.exceptions import ApplicationError

from activities.catalog import PooledReads, parse_uuid
from activities.search import (
    RECONCILIATION_INTERVAL,
    SearchActivities,
    create_or_update_schedule,
    interval_schedule,
    key_of,
    require_identity,
    signal_each,
    upsert_outcome,
)
from api.common.settings import Settings
from api.common.tenancy import platform_transaction, tenant_transaction
from api.search.dojo_engine import DojoSearchEngine
from api.search.engine import SearchEngine
from workflows.dojo_indexing_types import (
    DELETE_DOJO_DOCUMENT_ACTIVITY,
    INDEX_DOJO_VERSIONS_RANGE_ACTIVITY,
    LOAD_DOJO_DOCUMENT_ACTIVITY,
    REALTIME_VERSIONS_PAGE_ACTIVITY,
    RECONCILIATION_REQUEST_TYPE,
    RECONCILIATION_SCHEDULE_ID,
    RECONCILIATION_WORKFLOW_NAME,
    REQUEST_DOJO_REINDEX_ACTIVITY,
    TASK_QUEUE,
    UPSERT_DOJO_DOCUMENT_ACTIVITY,
    DojoDocument,
    DojoIndexRequest,
    DojoReconciliationInput,
    DojoReindexRequests,
    DojoVersion,
    DojoVersionsPage,
    DojoVersionsPageRequest,
    DojoVersionsRangeRequest,
    start_dojo_indexing,
)
from workflows.poc_indexing_types import UpsertOutcome

REALTIME_SERVICE = "realtime"
"""Its database is ``dojo`` (`Settings.database_name`)."""
MAX_VERSIONS_PAGE = 5000

LOAD_DOJO_SQL = """
SELECT d.dojo_id, d.tenant_id, d.creator_id, d.name, d.description, d.language, d.status, d.is_private,
  d.scheduled_start_time, d.created_at, d.started_at, d.ended_at, d.version,
  ARRAY(SELECT p.user_id::text FROM dojo_participants AS p
        WHERE p.tenant_id = d.tenant_id AND p.dojo_id = d.dojo_id ORDER BY p.user_id) AS member_ids,
  (SELECT count(*) FROM dojo_participants AS p
   WHERE p.tenant_id = d.tenant_id AND p.dojo_id = d.dojo_id AND p.leave_time IS NULL) AS participant_count
FROM dojos AS d
WHERE d.tenant_id = $1 AND d.dojo_id = $2
"""
"""The seed's visibility reads every participant row (EXISTS, whoever left too): those are the
members; the count is of the people still in the dojo."""

VERSIONS_PAGE_SQL = """
SELECT tenant_id, dojo_id, version FROM dojos
WHERE (cardinality($1::uuid[]) = 0 OR tenant_id = ANY($1::uuid[]))
  AND ($2::uuid IS NULL OR (tenant_id, dojo_id) > ($2::uuid, $3::uuid))
ORDER BY tenant_id, dojo_id
LIMIT $4
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dojo_document(row: Any) -> DojoDocument:
    """The read model's view of one row of `LOAD_DOJO_SQL`."""
    return DojoDocument(
        dojo_id=str(row["dojo_id"]),
        tenant_id=str(row["tenant_id"]),
        creator_id=str(row["creator_id"]),
        name=row["name"],
        description=row["description"],
        language=row["language"],
        status=row["status"],
        is_private=bool(row["is_private"]),
        created_at=row["created_at"].isoformat(),
        version=int(row["version"]),
        scheduled_start_time=_iso(row["scheduled_start_time"]),
        started_at=_iso(row["started_at"]),
        ended_at=_iso(row["ended_at"]),
        participant_count=int(row["participant_count"]),
        member_ids=list(row["member_ids"]),
    )


class RealtimeDojoActivities(PooledReads):
    """Realtime's reads for dojo indexing, sharing one engine (and pool) per worker."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            PostgresEngine(config={"dsn": settings.database_url(REALTIME_SERVICE)}, log_queries=False),
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
        )

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.load_dojo_document, self.list_dojo_versions]

    @activity.defn(name=LOAD_DOJO_DOCUMENT_ACTIVITY)
    async def load_dojo_document(self, request: DojoIndexRequest) -> DojoDocument | None:
        """The dojo as it is now; None when it is gone, or belongs to another tenant than the
        request says."""
        tenant_id = parse_uuid(request.tenant_id, "tenant_id")
        dojo_id = parse_uuid(request.dojo_id, "dojo_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            row = await transaction.connection.fetchrow(LOAD_DOJO_SQL, tenant_id, dojo_id)
        return dojo_document(row) if row is not None else None

    @activity.defn(name=REALTIME_VERSIONS_PAGE_ACTIVITY)
    async def list_dojo_versions(self, request: DojoVersionsPageRequest) -> DojoVersionsPage:
        """One keyset page of (tenant, dojo, version) over every tenant, for reconciliation."""
        limit = max(1, min(request.limit, MAX_VERSIONS_PAGE))
        after_tenant = (
            parse_uuid(request.after_tenant_id, "after_tenant_id") if request.after_tenant_id else None
        )
        after_dojo = parse_uuid(request.after_dojo_id, "after_dojo_id") if request.after_dojo_id else None
        if (after_tenant is None) != (after_dojo is None):
            raise ApplicationError(
                "after_tenant_id and after_dojo_id go together", type="InvalidInput", non_retryable=True
            )
        tenant_ids = [parse_uuid(tenant_id, "tenant_ids") for tenant_id in request.tenant_ids]
        async with platform_transaction(self.engine) as transaction:
            rows = await transaction.connection.fetch(
                VERSIONS_PAGE_SQL, tenant_ids, after_tenant, after_dojo, limit + 1
            )
        return DojoVersionsPage(
            items=[
                DojoVersion(
                    tenant_id=str(row["tenant_id"]), dojo_id=str(row["dojo_id"]), version=int(row["version"])
                )
                for row in rows[:limit]
            ],
            has_more=len(rows) > limit,
        )


class DojoSearchActivities(SearchActivities):
    """Search's dojo activities. In a worker they use the POC activities' engine
    (``owns_engine=False``), which opens and closes it; the dojo index is made sure of once."""

    def __init__(
        self,
        engine: SearchEngine,
        *,
        temporal_client: Client | None = None,
        settings: Settings | None = None,
        owns_engine: bool = True,
    ) -> None:
        super().__init__(engine, temporal_client=temporal_client, settings=settings, owns_engine=owns_engine)
        self._dojo_index_ready = False

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.upsert_dojo_document,
            self.delete_dojo_document,
            self.index_dojo_versions_range,
            self.request_dojo_reindex,
        ]

    async def _dojos(self) -> DojoSearchEngine:
        await self._ensure_started()
        if not self._dojo_index_ready:
            await self.engine.dojos.ensure_indices()
            self._dojo_index_ready = True
        return self.engine.dojos

    @activity.defn(name=UPSERT_DOJO_DOCUMENT_ACTIVITY)
    async def upsert_dojo_document(self, document: DojoDocument) -> UpsertOutcome:
        """Store the dojo unless the read model holds this version or a newer one already."""
        require_identity(document.tenant_id, document.dojo_id, document.version)
        applied = await (await self._dojos()).upsert(document)
        return upsert_outcome("dojo", document.dojo_id, document.version, applied)

    @activity.defn(name=DELETE_DOJO_DOCUMENT_ACTIVITY)
    async def delete_dojo_document(self, request: DojoIndexRequest) -> UpsertOutcome:
        applied = await (await self._dojos()).delete(request.tenant_id, request.dojo_id, request.version)
        return UpsertOutcome(applied=applied)

    @activity.defn(name=INDEX_DOJO_VERSIONS_RANGE_ACTIVITY)
    async def index_dojo_versions_range(self, request: DojoVersionsRangeRequest) -> list[DojoVersion]:
        after = key_of(request.after_tenant_id, request.after_dojo_id)
        through = key_of(request.through_tenant_id, request.through_dojo_id)
        return await (await self._dojos()).versions(after, through, tenant_ids=request.tenant_ids)

    @activity.defn(name=REQUEST_DOJO_REINDEX_ACTIVITY)
    async def request_dojo_reindex(self, batch: DojoReindexRequests) -> int:
        """Signal-with-start DojoIndexing for each dojo, the way realtime does after a write."""
        client = await self._client()
        return await signal_each(
            batch.requests, lambda item: start_dojo_indexing(client, item, task_queue=batch.task_queue)
        )


def dojo_reconciliation_schedule(
    *, interval: timedelta = RECONCILIATION_INTERVAL, task_queue: str = TASK_QUEUE, page_size: int = 500
) -> Schedule:
    return interval_schedule(
        RECONCILIATION_WORKFLOW_NAME,
        DojoReconciliationInput(page_size=page_size, task_queue=task_queue),
        schedule_id=RECONCILIATION_SCHEDULE_ID,
        task_queue=task_queue,
        request_type=RECONCILIATION_REQUEST_TYPE,
        interval=interval,
    )


async def ensure_dojo_reconciliation_schedule(
    client: Client,
    *,
    interval: timedelta = RECONCILIATION_INTERVAL,
    task_queue: str = TASK_QUEUE,
    schedule_id: str = RECONCILIATION_SCHEDULE_ID,
) -> bool:
    """Create the dojo reconciliation schedule, or bring an existing one up to date; True when created."""
    schedule = dojo_reconciliation_schedule(interval=interval, task_queue=task_queue)
    return await create_or_update_schedule(client, schedule_id, schedule)
