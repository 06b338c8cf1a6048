"""Bodies of the search API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from api.common.schemas import CamelStruct
from api.search.engine import FacetBucket, Facets, IndexDescription, SearchHit
from api.search.text import highlight_html
from workflows.search_index_types import ReindexProgress


class PocHit(CamelStruct):
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
    highlights: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Field -> fragments as HTML: the text escaped, matches inside ``<mark>``."""

    @classmethod
    def from_hit(cls, hit: SearchHit) -> PocHit:
        return cls(
            poc_id=hit.poc_id,
            user_id=hit.user_id,
            name=hit.name,
            description=hit.description,
            repository_url=hit.repository_url,
            language=hit.language,
            is_public=hit.is_public,
            tags=hit.tags,
            frameworks=hit.frameworks,
            created_at=hit.created_at,
            updated_at=hit.updated_at,
            version=hit.version,
            has_thumbnail=hit.has_thumbnail,
            score=round(hit.score, 6) if hit.score is not None else None,
            highlights={
                field: [highlight_html(fragment) for fragment in fragments]
                for field, fragments in hit.highlights.items()
            },
        )


class FacetCount(CamelStruct):
    value: str
    count: int


class FacetCounts(CamelStruct):
    languages: list[FacetCount]
    tags: list[FacetCount]
    frameworks: list[FacetCount]

    @classmethod
    def from_facets(cls, facets: Facets) -> FacetCounts:
        def counts(buckets: list[FacetBucket]) -> list[FacetCount]:
            return [FacetCount(value=bucket.value, count=bucket.count) for bucket in buckets]

        return cls(
            languages=counts(facets.languages),
            tags=counts(facets.tags),
            frameworks=counts(facets.frameworks),
        )


class PocSearchResults(CamelStruct):
    """The seed's SearchResults: a page of hits plus facet counts over every match."""

    items: list[PocHit]
    total_items: int
    page: int
    page_size: int
    total_pages: int
    facets: FacetCounts


class Suggestions(CamelStruct):
    kind: Literal["poc", "tag"]
    prefix: str
    suggestions: list[str]


class SearchIndexOut(CamelStruct):
    name: str
    documents: int
    aliases: list[str]
    details: dict[str, str]

    @classmethod
    def from_description(cls, description: IndexDescription) -> SearchIndexOut:
        return cls(
            name=description.name,
            documents=description.documents,
            aliases=description.aliases,
            details=description.details,
        )


class SearchIndicesOut(CamelStruct):
    engine: str
    indices: list[SearchIndexOut]


class IndexChanges(CamelStruct):
    engine: str
    changed: list[str]


class AliasesOut(CamelStruct):
    engine: str
    aliases: dict[str, str]


class ReindexCreate(CamelStruct):
    scope: Literal["tenant", "all"] = "tenant"
    tenant_id: Annotated[str, msgspec.Meta(max_length=36)] | None = None
    """SUPERADMIN only: reindex this tenant instead of the caller's own."""


class ReindexAccepted(CamelStruct):
    reindex_id: str
    status: str
    scope: Literal["tenant", "all"]


class ReindexStatus(CamelStruct):
    reindex_id: str
    status: str
    phase: str
    total: int
    copied: int
    percent: int
    source: str
    target: str
    error: str | None
    notes: list[str]

    @classmethod
    def from_progress(cls, reindex_id: str, progress: ReindexProgress) -> ReindexStatus:
        return cls(
            reindex_id=reindex_id,
            status=progress.status,
            phase=progress.phase,
            total=progress.total,
            copied=progress.copied,
            percent=progress.percent,
            source=progress.source,
            target=progress.target,
            error=progress.error,
            notes=list(progress.notes),
        )
