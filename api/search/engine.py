"""The port both search engines implement: the embedded PostgreSQL one and OpenSearch.

Queries arrive here already scoped: `SearchQuery` always carries the caller's tenant and the
caller as the viewer, because the service fills them from the token. An engine applies the
visibility rule (the viewer's own POCs, or public ones) itself and never returns a tombstone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from api.search.dojo_engine import DojoSearchEngine
from workflows.poc_indexing_types import PocDocument, PocVersion
from workflows.search_index_types import ReindexBatchResult, ReindexTarget

SortOrder = Literal["relevance", "newest", "name"]
MatchMode = Literal["all", "any"]
SuggestionKind = Literal["poc", "tag"]

LANGUAGE_FACET_SIZE = 20
TAG_FACET_SIZE = 50
FRAMEWORK_FACET_SIZE = 20
"""Bucket counts of the seed's OpenSearch aggregations."""

HIGHLIGHT_START = "\u0002"
HIGHLIGHT_END = "\u0003"
"""Engines mark matches with these control characters; the service turns them into safe HTML."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    tenant_id: str
    viewer_id: str
    text: str | None = None
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tags_mode: MatchMode = "all"
    frameworks: tuple[str, ...] = ()
    frameworks_mode: MatchMode = "all"
    owner_id: str | None = None
    is_public: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    sort: SortOrder = "relevance"
    offset: int = 0
    limit: int = 20
    with_facets: bool = True
    with_highlights: bool = True


@dataclass(frozen=True, slots=True)
class SearchHit:
    poc_id: str
    user_id: str
    name: str
    description: str | None
    repository_url: str | None
    language: str | None
    is_public: bool
    tags: list[str]
    frameworks: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    has_thumbnail: bool
    score: float | None = None
    highlights: dict[str, list[str]] = field(default_factory=dict)
    """Field name -> fragments with matches between `HIGHLIGHT_START` and `HIGHLIGHT_END`."""


@dataclass(frozen=True, slots=True)
class FacetBucket:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class Facets:
    languages: list[FacetBucket] = field(default_factory=list)
    tags: list[FacetBucket] = field(default_factory=list)
    frameworks: list[FacetBucket] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    facets: Facets


@dataclass(frozen=True, slots=True)
class SuggestionQuery:
    tenant_id: str
    viewer_id: str
    prefix: str
    kind: SuggestionKind = "poc"
    limit: int = 10


@dataclass(frozen=True, slots=True)
class IndexDescription:
    name: str
    documents: int
    aliases: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)


class SearchEngine(Protocol):
    """One read model of POCs; every write is idempotent by POC version."""

    kind: str

    @property
    def dojos(self) -> DojoSearchEngine:
        """The dojo read model beside the POCs', on this engine's connections (`api.search.dojo_engine`)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def upsert(self, document: PocDocument) -> bool:
        """Store `document` unless the same or a newer version is stored; True when it was stored.

        A document marked deleted is stored as a tombstone, without its text.
        """
        ...

    async def upsert_many(self, documents: Sequence[PocDocument]) -> int:
        """Bulk `upsert` (loads, benchmarks); how many were stored."""
        ...

    async def delete(self, tenant_id: str, poc_id: str, version: int) -> bool:
        """Replace the POC by a tombstone at `version`, so an older upsert arriving later loses."""
        ...

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def suggest(self, query: SuggestionQuery) -> list[str]: ...

    async def versions(
        self,
        after: tuple[str, str] | None,
        through: tuple[str, str] | None,
        limit: int | None = None,
        *,
        tenant_ids: Sequence[str] = (),
    ) -> list[PocVersion]:
        """Versions (tombstones too) with after < (tenant_id, poc_id) <= through, in key order.

        With `tenant_ids`, only those tenants' documents.
        """
        ...

    async def create_tenant_index(self, tenant_id: str) -> None: ...

    async def drop_tenant_index(self, tenant_id: str) -> int:
        """Remove everything of the tenant; the number of documents removed."""
        ...

    async def ensure_indices(self) -> list[str]:
        """Create what is missing (idempotent); the names of what was created."""
        ...

    async def update_mappings(self) -> list[str]:
        """Apply additive mapping changes in place; the names of what changed."""
        ...

    async def list_aliases(self, tenant_id: str | None = None) -> dict[str, str]:
        """Alias -> index it points at (only `tenant_id`'s when given)."""
        ...

    async def describe(self) -> list[IndexDescription]: ...

    async def count_documents(self, tenant_id: str | None = None) -> int: ...

    async def begin_reindex(self, tenant_id: str | None, started_at: str) -> ReindexTarget: ...

    async def reindex_batch(
        self, target: ReindexTarget, after: tuple[str, str] | None, limit: int
    ) -> ReindexBatchResult: ...

    async def finish_reindex(self, target: ReindexTarget) -> list[str]:
        """Make the target live (alias swap) and tidy up; notes on what was done."""
        ...

    async def abort_reindex(self, target: ReindexTarget) -> None:
        """Drop what `begin_reindex` built unless it went live (idempotent)."""
        ...
