"""The dojo read model on OpenSearch: the seed's "Dojo Search Index", on the POC engine's client.

Layout: one versioned index ``{prefix}-v{n}`` (the seed's 2 shards) behind the write alias
``{prefix}``; documents are routed by tenant, so a tenant's dojos share a shard, and every query
filters by tenant and by the seed's visibility rule itself. Writes use external versioning, so
OpenSearch refuses a version that is not newer than the stored one; a deletion is a tombstone at
the deleting version, for the same reason. The index is created on first use by the indexing
worker (`ensure_indices`); a search before that finds nothing.

The mapping is the seed's, with the POC index's folding analyzers and stemmed subfields (accents
and case never matter), plus what the read model needs: ``member_ids`` (visibility, never
returned), ``status_rank`` (the "active first" order), ``deleted``, ``version`` and ``indexed_at``.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError

from api.search.dojo_engine import DojoHit, DojoQuery, DojoSearchResult, status_rank
from api.search.opensearch_text import (
    NAME_KEYS,
    ExternallyVersionedIndex,
    RefreshPolicy,
    fold,
    folded_keyword,
    folded_text,
    folding_analysis,
    instant,
    optional_instant,
    parse_instant,
    total_hits,
    word_clause,
)
from api.search.text import query_words
from workflows.dojo_indexing_types import DojoDocument, DojoVersion

DOJO_INDEX_PREFIX = "mrbill-dojos"
TEXT_FIELDS = ["name^3", "name.pt^3", "name.en^3", "description^2", "description.pt^2", "description.en^2"]
PREFIX_FIELDS = ["name", "description"]
SOURCE_FIELDS = [
    "dojo_id",
    "tenant_id",
    "creator_id",
    "name",
    "description",
    "language",
    "status",
    "is_private",
    "scheduled_start_time",
    "created_at",
    "started_at",
    "ended_at",
    "participant_count",
    "version",
]
"""What a hit returns: never ``member_ids``."""
DOJO_INDEX_SETTINGS: dict[str, Any] = {
    "index": {"number_of_shards": 2, "number_of_replicas": 1, "max_result_window": 10000},
    "analysis": folding_analysis(),
}
"""The seed's settings (2 shards, 1 replica) plus the folding analyzers and stemmers."""

DOJO_INDEX_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "dojo_id": {"type": "keyword"},
        "creator_id": {"type": "keyword"},
        "tenant_id": {"type": "keyword"},
        "name": folded_text(**NAME_KEYS),
        "description": folded_text(),
        "language": folded_keyword(),
        "status": {"type": "keyword"},
        "status_rank": {"type": "integer"},
        "is_private": {"type": "boolean"},
        "scheduled_start_time": {"type": "date"},
        "created_at": {"type": "date"},
        "started_at": {"type": "date"},
        "ended_at": {"type": "date"},
        "participant_count": {"type": "integer"},
        "tags": {"type": "keyword"},
        "member_ids": {"type": "keyword"},
        "deleted": {"type": "boolean"},
        "version": {"type": "long"},
        "indexed_at": {"type": "date"},
    },
}
"""The seed's dojo mapping (``tags`` kept for it, though dojos have none yet) with folded subfields."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def dojo_source(document: DojoDocument, indexed_at: str) -> dict[str, Any]:
    if document.deleted:
        return dojo_tombstone_source(document.tenant_id, document.dojo_id, document.version, indexed_at)
    return {
        "dojo_id": document.dojo_id,
        "tenant_id": document.tenant_id,
        "creator_id": document.creator_id,
        "name": document.name,
        "description": document.description,
        "language": document.language,
        "status": document.status,
        "status_rank": status_rank(document.status),
        "is_private": document.is_private,
        "scheduled_start_time": document.scheduled_start_time,
        "created_at": document.created_at,
        "started_at": document.started_at,
        "ended_at": document.ended_at,
        "participant_count": document.participant_count,
        "member_ids": sorted(set(document.member_ids)),
        "version": document.version,
        "deleted": False,
        "indexed_at": indexed_at,
    }


def dojo_tombstone_source(tenant_id: str, dojo_id: str, version: int, indexed_at: str) -> dict[str, Any]:
    return {
        "dojo_id": dojo_id,
        "tenant_id": tenant_id,
        "version": version,
        "deleted": True,
        "is_private": True,
        "indexed_at": indexed_at,
    }


class OpenSearchDojoEngine(ExternallyVersionedIndex[DojoVersion]):
    id_field = "dojo_id"
    version_type = DojoVersion
    # No dojo was ever indexed before the index exists: it holds no versions yet.
    missing_index_is_empty = True

    def __init__(
        self,
        client: AsyncOpenSearch,
        *,
        index_prefix: str = DOJO_INDEX_PREFIX,
        shards: int = 2,
        replicas: int = 1,
        refresh: RefreshPolicy = "false",
        clock: Any = _now,
    ) -> None:
        """`client` belongs to the POC engine, which closes it."""
        self.client = client
        self.prefix = index_prefix
        self.shards = shards
        self.replicas = replicas
        self.refresh = refresh
        self._clock = clock

    def index_body(self) -> dict[str, Any]:
        settings = copy.deepcopy(DOJO_INDEX_SETTINGS)
        settings["index"]["number_of_shards"] = self.shards
        settings["index"]["number_of_replicas"] = self.replicas
        return {"settings": settings, "mappings": copy.deepcopy(DOJO_INDEX_MAPPINGS)}

    async def ensure_indices(self) -> list[str]:
        try:
            await self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            pass
        else:
            return []
        index = f"{self.prefix}-v1"
        body = self.index_body()
        body["aliases"] = {self.alias: {"is_write_index": True}}
        try:
            await self.client.indices.create(index=index, body=body)
        except Exception as exc:
            # Another worker created it between the two requests.
            if "resource_already_exists_exception" not in str(exc):
                raise
            return []
        return [index, self.alias]

    # -- writes ---------------------------------------------------------------------------------

    async def upsert(self, document: DojoDocument) -> bool:
        return await self._write(
            document.tenant_id, document.dojo_id, document.version, dojo_source(document, self._clock())
        )

    async def delete(self, tenant_id: str, dojo_id: str, version: int) -> bool:
        return await self._write(
            tenant_id, dojo_id, version, dojo_tombstone_source(tenant_id, dojo_id, version, self._clock())
        )

    # -- queries ---------------------------------------------------------------------------------

    def search_body(self, query: DojoQuery) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [
            {"term": {"tenant_id": query.tenant_id}},
            {"term": {"deleted": False}},
            {
                "bool": {
                    "should": [
                        {"term": {"is_private": False}},
                        {"term": {"creator_id": query.viewer_id}},
                        {"term": {"member_ids": query.viewer_id}},
                    ],
                    "minimum_should_match": 1,
                }
            },
        ]
        if query.statuses:
            filters.append({"terms": {"status": list(query.statuses)}})
        if query.languages:
            filters.append({"terms": {"language.key": [fold(value) for value in query.languages]}})
        if query.scheduled_from is not None or query.scheduled_to is not None:
            bounds: dict[str, str] = {}
            if query.scheduled_from is not None:
                bounds["gte"] = instant(query.scheduled_from)
            if query.scheduled_to is not None:
                bounds["lt"] = instant(query.scheduled_to)
            filters.append({"range": {"scheduled_start_time": bounds}})
        words = query_words(query.text)
        boolean: dict[str, Any] = {"filter": filters}
        if words:
            boolean["must"] = [word_clause(word, TEXT_FIELDS, PREFIX_FIELDS) for word in words]
        sort_key = query.sort if words or query.sort != "relevance" else "upcoming"
        upcoming: list[Any] = [
            {"status_rank": "asc"},
            {"scheduled_start_time": {"order": "asc", "missing": "_last"}},
            {"dojo_id": "asc"},
        ]
        sorts: dict[str, list[Any]] = {
            "upcoming": upcoming,
            "relevance": ["_score", *upcoming],
            "newest": [{"created_at": "desc"}, {"dojo_id": "asc"}],
        }
        body: dict[str, Any] = {
            "query": {"bool": boolean},
            "sort": sorts[sort_key],
            "from": query.offset,
            "size": query.limit,
            "track_total_hits": True,
            "_source": SOURCE_FIELDS,
        }
        if words:
            body["track_scores"] = True
        return body

    async def search(self, query: DojoQuery) -> DojoSearchResult:
        try:
            response = await self.client.search(
                index=self.alias, body=self.search_body(query), params={"routing": query.tenant_id}
            )
        except NotFoundError:
            # No dojo was ever indexed: the index does not exist yet.
            return DojoSearchResult(hits=[], total=0)
        return self.parse_search(response)

    @staticmethod
    def parse_search(response: dict[str, Any]) -> DojoSearchResult:
        hits: list[DojoHit] = []
        for raw in response["hits"]["hits"]:
            source = raw["_source"]
            hits.append(
                DojoHit(
                    dojo_id=source["dojo_id"],
                    creator_id=source["creator_id"],
                    name=source["name"],
                    description=source.get("description"),
                    language=source["language"],
                    status=source["status"],
                    is_private=bool(source["is_private"]),
                    scheduled_start_time=optional_instant(source.get("scheduled_start_time")),
                    created_at=parse_instant(source["created_at"]),
                    started_at=optional_instant(source.get("started_at")),
                    ended_at=optional_instant(source.get("ended_at")),
                    participant_count=int(source.get("participant_count") or 0),
                    version=int(source["version"]),
                    score=raw.get("_score"),
                )
            )
        return DojoSearchResult(hits=hits, total=total_hits(response))
