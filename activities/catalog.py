"""The catalog's side of indexing and of reports: read a POC as a search document, list every
POC's version, select the POCs of a report.

The engine connects as the catalog's application role, so these reads obey row-level
security like the API: a POC is loaded inside its own tenant's transaction, and only the
reconciliation's listing runs in an explicit platform scope, across tenants.

A report's selection can hold thousands of POCs, more than a workflow's history should carry,
so it is written to storage under the run's work prefix and only its key and count go back to
the workflow (a claim check).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from api.catalog import repository
from api.catalog.labels import label_key
from api.catalog.piccolo_conf import build_engine
from api.catalog.repository import PocRecord, ReportSelection
from api.common.settings import Settings
from api.common.storage import BlobStorage, local_blob_storage
from api.common.tenancy import platform_transaction, tenant_transaction
from api.content.reports.aggregate import encode_pocs
from workflows.poc_indexing_types import (
    CATALOG_VERSIONS_PAGE_ACTIVITY,
    LOAD_POC_DOCUMENT_ACTIVITY,
    PocDocument,
    PocIndexRequest,
    PocVersion,
    VersionsPage,
    VersionsPageRequest,
)
from workflows.report_generation_types import (
    INVALID_REQUEST_ERROR,
    MAX_REPORT_POCS,
    SELECT_REPORT_POCS_ACTIVITY,
    TOO_MANY_POCS_ERROR,
    PocSelection,
    PocSelectionRequest,
    ReportPoc,
    report_pocs_key,
)

MAX_VERSIONS_PAGE = 5000


def poc_document(poc: PocRecord) -> PocDocument:
    """The read model's view of a POC: tags and frameworks as their authors spelled them."""
    return PocDocument(
        poc_id=str(poc.poc_id),
        tenant_id=str(poc.tenant_id),
        user_id=str(poc.user_id),
        name=poc.name,
        description=poc.description,
        repository_url=poc.repository_url,
        language=poc.language,
        is_public=poc.is_public,
        created_at=poc.created_at.isoformat(),
        updated_at=poc.updated_at.isoformat(),
        version=poc.version,
        deleted=poc.is_deleted,
        tags=[label.display for label in poc.tags],
        frameworks=[label.display for label in poc.frameworks],
        thumbnail_key=poc.thumbnail_key,
    )


def report_poc(poc: PocRecord) -> ReportPoc:
    """A POC as every report prints it: tags and frameworks as their authors spelled them."""
    return ReportPoc(
        poc_id=str(poc.poc_id),
        name=poc.name,
        repository_url=poc.repository_url,
        created_at=poc.created_at.isoformat(),
        description=poc.description,
        language=poc.language,
        is_public=poc.is_public,
        tags=[label.display for label in poc.tags],
        frameworks=[label.display for label in poc.frameworks],
        thumbnail_key=poc.thumbnail_key,
    )


def parse_uuid(value: str, field: str) -> UUID:
    """A request's id as a UUID; a malformed one is refused for good, not retried."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise ApplicationError(
            f"{field} is not a UUID: {value!r}", type="InvalidInput", non_retryable=True
        ) from exc


def _optional_uuid(value: str | None, field: str) -> UUID | None:
    return None if value is None else parse_uuid(value, field)


def _instant(value: str | None, field: str) -> datetime | None:
    """An aware ISO 8601 instant; one without an offset is refused rather than guessed."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApplicationError(
            f"{field} is not an ISO 8601 instant: {value!r}", type=INVALID_REQUEST_ERROR, non_retryable=True
        ) from exc
    if moment.utcoffset() is None:
        raise ApplicationError(
            f"{field} has no UTC offset: {value!r}", type=INVALID_REQUEST_ERROR, non_retryable=True
        )
    return moment


class PooledReads:
    """Reads of one service's database for a worker: one engine, whose pool lives as long as the
    worker's `async with` (the catalog's here, realtime's in `activities.dojo_search`)."""

    def __init__(self, engine: PostgresEngine, *, pool_min: int = 1, pool_max: int = 5) -> None:
        self.engine = engine
        self._pool_size = (pool_min, pool_max)

    async def __aenter__(self) -> Self:
        await self.engine.start_connection_pool(min_size=self._pool_size[0], max_size=self._pool_size[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.engine.close_connection_pool()


class CatalogActivities(PooledReads):
    """Catalog reads for the indexing and content task queues, sharing one engine (and pool) per worker.

    `storage` receives report selections; only `select_report_pocs` needs it.
    """

    def __init__(
        self,
        engine: PostgresEngine,
        *,
        storage: BlobStorage | None = None,
        pool_min: int = 1,
        pool_max: int = 5,
    ) -> None:
        super().__init__(engine, pool_min=pool_min, pool_max=pool_max)
        self.storage = storage

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            build_engine(settings),
            storage=local_blob_storage(settings),
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
        )

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.load_poc_document, self.list_poc_versions]

    @activity.defn(name=LOAD_POC_DOCUMENT_ACTIVITY)
    async def load_poc_document(self, request: PocIndexRequest) -> PocDocument | None:
        """The POC as it is now (soft-deleted ones flagged ``deleted``); None when it never was,
        or belongs to another tenant than the request says."""
        tenant_id = parse_uuid(request.tenant_id, "tenant_id")
        poc_id = parse_uuid(request.poc_id, "poc_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            poc = await repository.fetch_poc(transaction.connection, poc_id)
        return poc_document(poc) if poc is not None else None

    @activity.defn(name=CATALOG_VERSIONS_PAGE_ACTIVITY)
    async def list_poc_versions(self, request: VersionsPageRequest) -> VersionsPage:
        """One keyset page of (tenant, POC, version, deleted) over every tenant, for reconciliation."""
        limit = max(1, min(request.limit, MAX_VERSIONS_PAGE))
        async with platform_transaction(self.engine) as transaction:
            rows, has_more = await repository.versions_page(
                transaction.connection,
                after_tenant_id=_optional_uuid(request.after_tenant_id, "after_tenant_id"),
                after_poc_id=_optional_uuid(request.after_poc_id, "after_poc_id"),
                limit=limit,
                tenant_ids=[parse_uuid(tenant_id, "tenant_ids") for tenant_id in request.tenant_ids],
            )
        return VersionsPage(
            items=[
                PocVersion(
                    tenant_id=str(row.tenant_id),
                    poc_id=str(row.poc_id),
                    version=row.version,
                    deleted=row.deleted,
                )
                for row in rows
            ],
            has_more=has_more,
        )

    @activity.defn(name=SELECT_REPORT_POCS_ACTIVITY)
    async def select_report_pocs(self, request: PocSelectionRequest) -> PocSelection:
        """The owner's POCs of the report's period and tags, oldest first, written as JSON to storage.

        More than `request.limit` POCs is refused without loading any (``TooManyPocs``, with the
        count and the limit as details, so the person is told both).
        """
        if self.storage is None:
            raise RuntimeError("CatalogActivities needs storage to select a report's POCs")
        tenant_id = parse_uuid(request.tenant_id, "tenant_id")
        selection = ReportSelection(
            tenant_id=tenant_id,
            owner_id=parse_uuid(request.user_id, "user_id"),
            created_from=_instant(request.from_date, "from_date"),
            created_to=_instant(request.to_date, "to_date"),
            include_tag_keys=tuple(dict.fromkeys(label_key(tag) for tag in request.include_tags)),
            exclude_tag_keys=tuple(dict.fromkeys(label_key(tag) for tag in request.exclude_tags)),
        )
        limit = max(0, min(request.limit, MAX_REPORT_POCS))
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            count = await repository.count_report_pocs(transaction.connection, selection)
            if count > limit:
                raise ApplicationError(
                    f"the report would include {count} POCs; at most {limit} fit in one report",
                    {"count": count, "limit": limit},
                    type=TOO_MANY_POCS_ERROR,
                    non_retryable=True,
                )
            pocs = await repository.select_report_pocs(transaction.connection, selection, limit=limit)
        key = report_pocs_key(request.tenant_id, request.user_id, request.request_id)
        await self.storage.put(key, encode_pocs([report_poc(poc) for poc in pocs]), "application/json")
        activity.logger.info("selected %d POCs for report %s", len(pocs), request.request_id)
        return PocSelection(count=len(pocs), key=key)


class CatalogReportActivities(CatalogActivities):
    """The catalog's activities the content task queue serves: only the report selection."""

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.select_report_pocs]
