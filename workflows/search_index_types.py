"""Types of the search read model's own workflows: reindexing and per-tenant index lifecycle.

The API starts `SearchReindex` (one tenant, or every tenant for a SUPERADMIN); onboarding calls
the tenant index activities on the indexing task queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TASK_QUEUE = "indexing"
REINDEX_WORKFLOW_NAME = "SearchReindex"
REQUEST_TYPE = "SEARCH_REINDEX"
ALL_TENANTS = "all"

CREATE_TENANT_INDEX_ACTIVITY = "create_tenant_search_index"
DROP_TENANT_INDEX_ACTIVITY = "drop_tenant_search_index"
BEGIN_REINDEX_ACTIVITY = "begin_search_reindex"
REINDEX_BATCH_ACTIVITY = "search_reindex_batch"
FINISH_REINDEX_ACTIVITY = "finish_search_reindex"
ABORT_REINDEX_ACTIVITY = "abort_search_reindex"


def reindex_workflow_id(tenant_id: str | None, request_id: str) -> str:
    """The caller's tenant is part of the id, so a tenant can only ever address its own jobs."""
    return f"search-reindex/{tenant_id or ALL_TENANTS}/{request_id}"


@dataclass
class TenantIndexRequest:
    tenant_id: str


@dataclass
class ReindexTarget:
    tenant_id: str | None
    source: str
    target: str
    started_at: str
    total: int = 0


@dataclass
class ReindexBatchRequest:
    target: ReindexTarget
    after_tenant_id: str | None = None
    after_poc_id: str | None = None
    limit: int = 1000


@dataclass
class ReindexInput:
    tenant_id: str | None
    """None: every tenant (SUPERADMIN only), through a new index and an alias swap."""
    requested_by: str = ""
    batch_size: int = 1000
    resume: ReindexBatchRequest | None = None
    """Set by continue-as-new: the next batch to copy, and what was copied so far."""
    copied_before: int = 0


@dataclass
class ReindexBatchResult:
    copied: int
    last_tenant_id: str | None = None
    last_poc_id: str | None = None
    done: bool = False


@dataclass
class ReindexProgress:
    status: str = "RUNNING"
    """RUNNING, COMPLETED or FAILED."""
    phase: str = "PREPARING"
    """PREPARING, COPYING, SWAPPING, DONE."""
    total: int = 0
    copied: int = 0
    percent: int = 0
    source: str = ""
    target: str = ""
    error: str | None = None
    tenant_id: str | None = None
    batches: int = 0
    notes: list[str] = field(default_factory=list)
