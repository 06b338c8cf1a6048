"""The seed's SearchService and SearchIndexManager, with no HTTP in them.

Tenant and visibility are never taken from the client: the tenant is the token's and the
viewer is the caller, and the engine only returns the viewer's own POCs or public ones.
Filters the client sends can only narrow that set further.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.common.auth import TokenClaims
from api.common.errors import BadRequestError, FieldError, NotFoundError, PermissionDeniedError
from api.common.i18n import N_
from api.common.pagination import PageParams
from api.common.settings import Settings
from api.search.engine import (
    Facets,
    MatchMode,
    SearchEngine,
    SearchQuery,
    SearchResult,
    SortOrder,
    SuggestionKind,
    SuggestionQuery,
)
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from workflows.search_index_types import (
    ALL_TENANTS,
    REINDEX_WORKFLOW_NAME,
    TASK_QUEUE,
    ReindexInput,
    ReindexProgress,
    reindex_workflow_id,
)
from workflows.search_index_types import REQUEST_TYPE as REINDEX_REQUEST_TYPE

MAX_QUERY_LENGTH = 200
MAX_FILTER_VALUES = 20
MAX_FILTER_VALUE_LENGTH = 50
MAX_RESULT_WINDOW = 10_000
"""OpenSearch's ``index.max_result_window``: deeper pages are refused by both engines alike."""
MAX_PREFIX_LENGTH = 100
MAX_SUGGESTIONS = 20
PROGRESS_QUERY_TIMEOUT = timedelta(seconds=5)
_REINDEX_ID = re.compile(r"^(?P<scope>all|[0-9a-f-]{36})\.(?P<request>[0-9a-f]{32})$")
INDEX_MANAGERS = ("OWNER", "ADMIN")


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """What the client asked for, before the service scopes it to the caller."""

    text: str | None = None
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tags_mode: MatchMode = "all"
    frameworks: tuple[str, ...] = ()
    frameworks_mode: MatchMode = "all"
    owner: str | None = None
    """"me" or a user id."""
    is_public: bool | None = None
    created_from: str | None = None
    created_to: str | None = None
    sort: SortOrder = "relevance"


def _field_error(field: str, message: str, **params: object) -> FieldError:
    error: FieldError = {"field": field, "message": message}
    if params:
        error["params"] = dict(params)
    return error


def _clean_values(field: str, values: tuple[str, ...], errors: list[FieldError]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(value.strip() for value in values if value.strip()))
    if len(cleaned) > MAX_FILTER_VALUES:
        errors.append(_field_error(field, N_("Must have at most {limit} items."), limit=MAX_FILTER_VALUES))
    if any(len(value) > MAX_FILTER_VALUE_LENGTH for value in cleaned):
        errors.append(
            _field_error(field, N_("Must have at most {limit} characters."), limit=MAX_FILTER_VALUE_LENGTH)
        )
    return cleaned


def _parse_instant(field: str, value: str | None, errors: list[FieldError], *, end: bool) -> datetime | None:
    """A date (a whole UTC day, inclusive) or an ISO 8601 instant (naive ones are UTC)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(_field_error(field, N_("Must be a valid ISO 8601 {kind}."), kind="date"))
        return None
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return instant + timedelta(microseconds=1) if end else instant


def _owner_id(owner: str | None, claims: TokenClaims, errors: list[FieldError]) -> str | None:
    if owner is None or not owner.strip():
        return None
    if owner.strip().lower() == "me":
        return str(claims.user_id)
    try:
        return str(uuid.UUID(owner.strip()))
    except ValueError:
        errors.append(_field_error("owner", N_("Must be a valid UUID.")))
        return None


class SearchService:
    def __init__(self, engine: SearchEngine) -> None:
        self.engine = engine

    def scoped_query(self, claims: TokenClaims, criteria: SearchCriteria, paging: PageParams) -> SearchQuery:
        """The engine query for `criteria`, always within the caller's tenant and visibility."""
        errors: list[FieldError] = []
        text = (criteria.text or "").strip() or None
        if text is not None and len(text) > MAX_QUERY_LENGTH:
            errors.append(
                _field_error("q", N_("Must have at most {limit} characters."), limit=MAX_QUERY_LENGTH)
            )
        languages = _clean_values("language", criteria.languages, errors)
        tags = _clean_values("tags", criteria.tags, errors)
        frameworks = _clean_values("frameworks", criteria.frameworks, errors)
        owner_id = _owner_id(criteria.owner, claims, errors)
        created_from = _parse_instant("from", criteria.created_from, errors, end=False)
        created_to = _parse_instant("to", criteria.created_to, errors, end=True)
        if created_from and created_to and created_from >= created_to:
            errors.append(_field_error("to", N_("Must not be before {other}."), other="from"))
        if paging.offset + paging.limit > MAX_RESULT_WINDOW:
            errors.append(
                _field_error(
                    "page", N_("Results beyond the first {limit} are not available."), limit=MAX_RESULT_WINDOW
                )
            )
        if errors:
            raise BadRequestError(N_("Some request parameters are invalid."), errors=errors)
        return SearchQuery(
            tenant_id=str(claims.tenant_id),
            viewer_id=str(claims.user_id),
            text=text,
            languages=languages,
            tags=tags,
            tags_mode=criteria.tags_mode,
            frameworks=frameworks,
            frameworks_mode=criteria.frameworks_mode,
            owner_id=owner_id,
            is_public=criteria.is_public,
            created_from=created_from,
            created_to=created_to,
            sort=criteria.sort,
            offset=paging.offset,
            limit=paging.limit,
        )

    async def search_pocs(
        self, claims: TokenClaims, criteria: SearchCriteria, paging: PageParams
    ) -> SearchResult:
        return await self.engine.search(self.scoped_query(claims, criteria, paging))

    async def suggestions(
        self, claims: TokenClaims, prefix: str, kind: SuggestionKind, limit: int
    ) -> list[str]:
        prefix = prefix.strip()
        if len(prefix) > MAX_PREFIX_LENGTH:
            raise BadRequestError(
                N_("Some request parameters are invalid."),
                errors=[
                    _field_error(
                        "prefix", N_("Must have at most {limit} characters."), limit=MAX_PREFIX_LENGTH
                    )
                ],
            )
        if not prefix:
            return []
        return await self.engine.suggest(
            SuggestionQuery(
                tenant_id=str(claims.tenant_id),
                viewer_id=str(claims.user_id),
                prefix=prefix,
                kind=kind,
                limit=max(1, min(limit, MAX_SUGGESTIONS)),
            )
        )


def total_pages(total: int, page_size: int) -> int:
    return math.ceil(total / page_size) if total > 0 else 0


EMPTY_FACETS = Facets()


class TemporalGateway:
    """Connects on first use, so searching works while Temporal is down."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect_client(self._settings)
        return self._client


_STATUS_BY_EXECUTION: dict[WorkflowExecutionStatus, str] = {
    WorkflowExecutionStatus.RUNNING: "RUNNING",
    WorkflowExecutionStatus.COMPLETED: "COMPLETED",
    WorkflowExecutionStatus.FAILED: "FAILED",
    WorkflowExecutionStatus.CANCELED: "FAILED",
    WorkflowExecutionStatus.TERMINATED: "FAILED",
    WorkflowExecutionStatus.TIMED_OUT: "FAILED",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "RUNNING",
}


class ReindexNotFoundError(NotFoundError):
    code = "reindex-not-found"
    title = N_("Reindex not found")


@dataclass(frozen=True, slots=True)
class ReindexStarted:
    reindex_id: str
    workflow_id: str
    scope: Literal["tenant", "all"]


class SearchIndexManager:
    """The seed's SearchIndexManager: indices, mappings, aliases and the reindex workflow."""

    def __init__(
        self, engine: SearchEngine, temporal: TemporalGateway, *, task_queue: str = TASK_QUEUE
    ) -> None:
        self.engine = engine
        self.temporal = temporal
        self.task_queue = task_queue

    async def aliases(self, claims: TokenClaims) -> dict[str, str]:
        """A tenant's managers see their tenant's alias; a SUPERADMIN sees every alias."""
        return await self.engine.list_aliases(None if claims.is_superadmin else str(claims.tenant_id))

    async def start_reindex(
        self, claims: TokenClaims, scope: Literal["tenant", "all"], tenant_id: str | None = None
    ) -> ReindexStarted:
        target_tenant: str | None = str(claims.tenant_id)
        if scope == "all" or tenant_id is not None:
            if not claims.is_superadmin:
                raise PermissionDeniedError(N_("Only a SUPERADMIN may reindex other tenants or all of them."))
            if scope == "all":
                target_tenant = None
            else:
                try:
                    target_tenant = str(uuid.UUID(str(tenant_id)))
                except ValueError:
                    raise BadRequestError(
                        N_("Some request parameters are invalid."),
                        errors=[_field_error("tenantId", N_("Must be a valid UUID."))],
                    ) from None
        request_id = uuid.uuid4().hex
        workflow_id = reindex_workflow_id(target_tenant, request_id)
        client = await self.temporal.client()
        await client.start_workflow(
            REINDEX_WORKFLOW_NAME,
            ReindexInput(tenant_id=target_tenant, requested_by=str(claims.user_id)),
            id=workflow_id,
            task_queue=self.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_ID, target_tenant or ALL_TENANTS),
                    SearchAttributePair(REQUEST_TYPE, REINDEX_REQUEST_TYPE),
                ]
            ),
        )
        return ReindexStarted(
            reindex_id=f"{target_tenant or ALL_TENANTS}.{request_id}",
            workflow_id=workflow_id,
            scope="all" if target_tenant is None else "tenant",
        )

    async def reindex_progress(self, claims: TokenClaims, reindex_id: str) -> ReindexProgress:
        match = _REINDEX_ID.match(reindex_id)
        if match is None:
            raise ReindexNotFoundError()
        scope = match["scope"]
        if not claims.is_superadmin and scope != str(claims.tenant_id):
            raise ReindexNotFoundError()
        client = await self.temporal.client()
        handle = client.get_workflow_handle(
            reindex_workflow_id(None if scope == ALL_TENANTS else scope, match["request"])
        )
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ReindexNotFoundError() from exc
            raise
        status = _STATUS_BY_EXECUTION.get(description.status or WorkflowExecutionStatus.RUNNING, "RUNNING")
        try:
            progress: ReindexProgress = await handle.query(
                "progress", result_type=ReindexProgress, rpc_timeout=PROGRESS_QUERY_TIMEOUT
            )
        except Exception:  # no worker answers queries right now: the execution status still helps
            return ReindexProgress(status=status, phase="DONE" if status != "RUNNING" else "PREPARING")
        if status != "RUNNING" and progress.status == "RUNNING":
            progress.status = status
        return progress
