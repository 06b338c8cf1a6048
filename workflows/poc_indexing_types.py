"""Input and document types of the PocIndexing workflow, shared by catalog (caller) and its worker."""

from __future__ import annotations

from dataclasses import dataclass, field

TASK_QUEUE = "indexing"
WORKFLOW_NAME = "PocIndexing"
RECONCILIATION_WORKFLOW_NAME = "PocIndexReconciliation"
REINDEX_SIGNAL = "reindex"
INDEXING_REQUEST_TYPE = "POC_INDEXING"
"""The RequestType search attribute of every indexing run, whoever starts it."""


def poc_index_workflow_id(tenant_id: str, poc_id: str) -> str:
    """Deterministic, so a retried write never starts a second indexing of the same POC."""
    return f"poc-index/{tenant_id}/{poc_id}"


@dataclass
class PocIndexRequest:
    tenant_id: str
    poc_id: str
    version: int
    """The POC's version after the write; older versions never overwrite newer ones."""


@dataclass
class PocDocument:
    """What the search read model stores for one POC (the seed's OpenSearch mapping)."""

    poc_id: str
    tenant_id: str
    user_id: str
    name: str
    description: str | None
    repository_url: str
    language: str | None
    is_public: bool
    created_at: str
    updated_at: str
    version: int
    deleted: bool = False
    tags: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    thumbnail_key: str | None = None


# -- activity names and the reconciliation contract (added by search; catalog implements its side) --

LOAD_POC_DOCUMENT_ACTIVITY = "load_poc_document"
"""Catalog: PocIndexRequest -> PocDocument | None (None: the POC no longer exists at all)."""
CATALOG_VERSIONS_PAGE_ACTIVITY = "catalog_poc_versions_page"
"""Catalog: VersionsPageRequest -> VersionsPage, every POC (soft-deleted ones too, deleted=True)."""
UPSERT_DOCUMENT_ACTIVITY = "upsert_document"
DELETE_DOCUMENT_ACTIVITY = "delete_document"
INDEX_VERSIONS_RANGE_ACTIVITY = "index_poc_versions_range"
REQUEST_REINDEX_ACTIVITY = "request_poc_reindex"
RECONCILIATION_SCHEDULE_ID = "poc-index-reconciliation"


@dataclass
class UpsertOutcome:
    applied: bool
    """False when the read model already held this version or a newer one (nothing changed)."""


@dataclass
class PocVersion:
    tenant_id: str
    poc_id: str
    version: int
    deleted: bool = False


@dataclass
class VersionsPageRequest:
    """Keyset page over (tenant_id, poc_id), both compared as text (UUIDs in canonical form)."""

    after_tenant_id: str | None = None
    after_poc_id: str | None = None
    limit: int = 500
    tenant_ids: list[str] = field(default_factory=list)
    """Only these tenants (empty: every tenant)."""


@dataclass
class VersionsPage:
    items: list[PocVersion] = field(default_factory=list)
    has_more: bool = False


@dataclass
class VersionsRangeRequest:
    """The read model's versions with after < (tenant_id, poc_id) <= through (None: no bound)."""

    after_tenant_id: str | None = None
    after_poc_id: str | None = None
    through_tenant_id: str | None = None
    through_poc_id: str | None = None
    tenant_ids: list[str] = field(default_factory=list)


@dataclass
class ReindexRequests:
    requests: list[PocIndexRequest] = field(default_factory=list)
    task_queue: str = TASK_QUEUE


@dataclass
class ReconciliationReport:
    pages: int = 0
    checked: int = 0
    missing: int = 0
    stale: int = 0
    orphaned: int = 0
    ahead: int = 0
    requested: int = 0


@dataclass
class ReconciliationInput:
    page_size: int = 500
    task_queue: str = TASK_QUEUE
    """Where the requested PocIndexing workflows run (tests use their own queue)."""
    resume_after_tenant_id: str | None = None
    resume_after_poc_id: str | None = None
    carried: ReconciliationReport | None = None
    tenant_ids: list[str] = field(default_factory=list)
    """Reconcile only these tenants (after an incident); empty, the scheduled default: all."""
    """Set by continue-as-new on large catalogs: where the previous run stopped, what it found."""


@dataclass
class PocIndexingState:
    """The "progress" query of PocIndexing and its result."""

    tenant_id: str = ""
    poc_id: str = ""
    requested_version: int = 0
    indexed_version: int = 0
    passes: int = 0
