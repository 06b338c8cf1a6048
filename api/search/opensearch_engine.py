"""The production search engine on OpenSearch (opensearch-py's asyncio client).

Layout: one shared, versioned index ``{prefix}-v{n}`` holds every tenant. The alias
``{prefix}`` (the write index) points at the live generation, and each tenant reads through
its own filtered alias ``{prefix}-tenant-{tenant_id}`` (term filter on ``tenant_id``, routing
by tenant so a tenant's documents share a shard). Queries add the tenant and visibility
filters again, so a missing or wrong alias can never widen what a caller sees.

Writes use external versioning (``version_type=external``): OpenSearch itself refuses a
version that is not newer than the stored one, so a late retry of an older POC version loses.
A deletion is a tombstone document at the deleting version, for the same reason.

Reindexing every tenant is zero-downtime: a new generation is created, filled in batches
(``external_gte``, so retried batches are harmless), then every alias moves to it in one
atomic ``_aliases`` call; writes that reached the old generation during the copy are copied
again after the swap (by ``indexed_at``), and the old generation is deleted. A single tenant is
reindexed in place, rewriting its documents at their own versions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError

from api.search.dojo_opensearch import DOJO_INDEX_PREFIX, OpenSearchDojoEngine
from api.search.engine import (
    FRAMEWORK_FACET_SIZE,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    LANGUAGE_FACET_SIZE,
    TAG_FACET_SIZE,
    FacetBucket,
    Facets,
    IndexDescription,
    SearchHit,
    SearchQuery,
    SearchResult,
    SuggestionQuery,
)
from api.search.opensearch_text import (
    FOLDING_ANALYZERS,
    FOLDING_NORMALIZERS,
    NAME_KEYS,
    STEMMER_FILTERS,
    ExternallyVersionedIndex,
    RefreshPolicy,
    fold,
    folded_keyword,
    folded_text,
    instant,
    parse_instant,
    total_hits,
    word_clause,
)
from api.search.text import query_words
from workflows.poc_indexing_types import PocDocument, PocVersion
from workflows.search_index_types import ReindexBatchResult, ReindexTarget

NAME_FIELDS = ["name^3", "name.pt^3", "name.en^3"]
TEXT_FIELDS = [*NAME_FIELDS, "description^2", "description.pt^2", "description.en^2", "tags.text^2"]
PREFIX_FIELDS = ["name.sayt", "name.sayt._2gram", "name.sayt._3gram"]
SOURCE_FIELDS = [
    "poc_id",
    "tenant_id",
    "user_id",
    "name",
    "description",
    "repository_url",
    "language",
    "is_public",
    "tags",
    "frameworks",
    "created_at",
    "updated_at",
    "version",
    "thumbnail_key",
]
CATCH_UP_PAGE_SIZE = 1000
_GENERATION = re.compile(r"-v(?P<generation>\d+)$")

INDEX_SETTINGS: dict[str, Any] = {
    "index": {"number_of_shards": 3, "number_of_replicas": 1, "max_result_window": 10000},
    "analysis": {
        "analyzer": {
            "code_analyzer": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "code_filter"],
            },
            **copy.deepcopy(FOLDING_ANALYZERS),
        },
        "normalizer": copy.deepcopy(FOLDING_NORMALIZERS),
        "filter": {
            "code_filter": {
                "type": "stop",
                "stopwords": [
                    "function",
                    "class",
                    "var",
                    "const",
                    "let",
                    "return",
                    "if",
                    "else",
                    "for",
                    "while",
                ],
            },
            **copy.deepcopy(STEMMER_FILTERS),
        },
    },
}
"""The seed's settings (shards, replicas, code_analyzer) plus folding analyzers and stemmers."""

INDEX_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "poc_id": {"type": "keyword"},
        "user_id": {"type": "keyword"},
        "tenant_id": {"type": "keyword"},
        "name": folded_text(**NAME_KEYS, sayt={"type": "search_as_you_type", "analyzer": "folding"}),
        "description": folded_text(),
        "language": folded_keyword(),
        "tags": folded_keyword(text={"type": "text", "analyzer": "folding"}),
        "frameworks": folded_keyword(),
        "is_public": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "version": {"type": "long"},
        "repository_url": {"type": "keyword"},
        "thumbnail_key": {"type": "keyword", "index": False},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "indexed_at": {"type": "date"},
        "code_snippets": {"type": "text", "analyzer": "code_analyzer"},
    },
}
"""The seed's mapping; name and description fold accents and gain stemmed and as-you-type subfields."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def document_source(document: PocDocument, indexed_at: str) -> dict[str, Any]:
    if document.deleted:
        return tombstone_source(document.tenant_id, document.poc_id, document.version, indexed_at)
    return {
        "poc_id": document.poc_id,
        "tenant_id": document.tenant_id,
        "user_id": document.user_id,
        "name": document.name,
        "description": document.description,
        "repository_url": document.repository_url,
        "language": document.language,
        "is_public": document.is_public,
        "tags": list(document.tags),
        "frameworks": list(document.frameworks),
        "created_at": document.created_at,
        "updated_at": document.updated_at,
        "version": document.version,
        "deleted": False,
        "thumbnail_key": document.thumbnail_key,
        "indexed_at": indexed_at,
    }


def tombstone_source(tenant_id: str, poc_id: str, version: int, indexed_at: str) -> dict[str, Any]:
    return {
        "poc_id": poc_id,
        "tenant_id": tenant_id,
        "version": version,
        "deleted": True,
        "is_public": False,
        "indexed_at": indexed_at,
    }


class OpenSearchEngine(ExternallyVersionedIndex[PocVersion]):
    kind = "opensearch"

    id_field = "poc_id"
    version_type = PocVersion
    missing_index_is_empty = False

    def __init__(
        self,
        client: AsyncOpenSearch,
        *,
        index_prefix: str = "mrbill-pocs",
        shards: int = 3,
        replicas: int = 1,
        refresh: RefreshPolicy = "false",
        clock: Any = _now,
        dojo_index_prefix: str = DOJO_INDEX_PREFIX,
    ) -> None:
        """`refresh` "wait_for" makes each write searchable before it returns (tests)."""
        self.client = client
        self.prefix = index_prefix
        self.shards = shards
        self.replicas = replicas
        self.refresh = refresh
        self._clock = clock
        self.dojos = OpenSearchDojoEngine(
            client, index_prefix=dojo_index_prefix, replicas=replicas, refresh=refresh, clock=clock
        )
        """The dojo read model in an index of its own, on this engine's client."""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        index_prefix: str = "mrbill-pocs",
        shards: int = 3,
        replicas: int = 1,
        timeout: float = 10.0,
        verify_certs: bool = True,
        refresh: RefreshPolicy = "false",
        dojo_index_prefix: str = DOJO_INDEX_PREFIX,
    ) -> Self:
        client = AsyncOpenSearch(hosts=[url], timeout=timeout, verify_certs=verify_certs, max_retries=2)
        return cls(
            client,
            index_prefix=index_prefix,
            shards=shards,
            replicas=replicas,
            refresh=refresh,
            dojo_index_prefix=dojo_index_prefix,
        )

    # -- names ------------------------------------------------------------------------------

    def tenant_alias(self, tenant_id: str) -> str:
        return f"{self.prefix}-tenant-{tenant_id}"

    def generation_index(self, generation: int) -> str:
        return f"{self.prefix}-v{generation}"

    def index_body(self) -> dict[str, Any]:
        settings = copy.deepcopy(INDEX_SETTINGS)
        settings["index"]["number_of_shards"] = self.shards
        settings["index"]["number_of_replicas"] = self.replicas
        return {"settings": settings, "mappings": copy.deepcopy(INDEX_MAPPINGS)}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to open: the client connects on first use."""

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> None:
        if not await self.client.ping():
            raise ConnectionError("OpenSearch did not answer")

    # -- writes ---------------------------------------------------------------------------------

    async def upsert(self, document: PocDocument) -> bool:
        return await self._write(
            document.tenant_id, document.poc_id, document.version, document_source(document, self._clock())
        )

    async def delete(self, tenant_id: str, poc_id: str, version: int) -> bool:
        return await self._write(
            tenant_id, poc_id, version, tombstone_source(tenant_id, poc_id, version, self._clock())
        )

    async def upsert_many(self, documents: Sequence[PocDocument]) -> int:
        if not documents:
            return 0
        indexed_at = self._clock()
        operations: list[dict[str, Any]] = []
        for document in documents:
            operations.append(
                {
                    "index": {
                        "_index": self.alias,
                        "_id": document.poc_id,
                        "routing": document.tenant_id,
                        "version": document.version,
                        "version_type": "external",
                    }
                }
            )
            operations.append(document_source(document, indexed_at))
        response = await self.client.bulk(body=operations, params={"refresh": self.refresh})
        return sum(1 for item in response["items"] if 200 <= item["index"]["status"] < 300)

    # -- queries -------------------------------------------------------------------------------

    def _scope_filters(self, tenant_id: str, viewer_id: str) -> list[dict[str, Any]]:
        return [
            {"term": {"tenant_id": tenant_id}},
            {"term": {"deleted": False}},
            {
                "bool": {
                    "should": [{"term": {"user_id": viewer_id}}, {"term": {"is_public": True}}],
                    "minimum_should_match": 1,
                }
            },
        ]

    def search_body(self, query: SearchQuery) -> dict[str, Any]:
        filters = self._scope_filters(query.tenant_id, query.viewer_id)
        if query.languages:
            filters.append({"terms": {"language.key": [fold(value) for value in query.languages]}})
        for field, values, mode in (
            ("tags.key", query.tags, query.tags_mode),
            ("frameworks.key", query.frameworks, query.frameworks_mode),
        ):
            if not values:
                continue
            if mode == "any":
                filters.append({"terms": {field: [fold(value) for value in values]}})
            else:
                filters.extend({"term": {field: fold(value)}} for value in values)
        if query.owner_id is not None:
            filters.append({"term": {"user_id": query.owner_id}})
        if query.is_public is not None:
            filters.append({"term": {"is_public": query.is_public}})
        if query.created_from is not None or query.created_to is not None:
            bounds: dict[str, str] = {}
            if query.created_from is not None:
                bounds["gte"] = instant(query.created_from)
            if query.created_to is not None:
                bounds["lt"] = instant(query.created_to)
            filters.append({"range": {"created_at": bounds}})
        words = query_words(query.text)
        boolean: dict[str, Any] = {"filter": filters}
        if words:
            boolean["must"] = [self._word_clause(word) for word in words]
            boolean["should"] = [
                {"multi_match": {"query": " ".join(words), "type": "bool_prefix", "fields": PREFIX_FIELDS}}
            ]
        sort_key = query.sort if words or query.sort != "relevance" else "newest"
        sorts: dict[str, list[Any]] = {
            "relevance": ["_score", {"created_at": "desc"}, {"poc_id": "asc"}],
            "newest": [{"created_at": "desc"}, {"poc_id": "asc"}],
            "name": [{"name.sort": "asc"}, {"created_at": "desc"}, {"poc_id": "asc"}],
        }
        sort = sorts[sort_key]
        body: dict[str, Any] = {
            "query": {"bool": boolean},
            "sort": sort,
            "from": query.offset,
            "size": query.limit,
            "track_total_hits": True,
            "_source": SOURCE_FIELDS,
        }
        if sort_key == "relevance":
            body["track_scores"] = True
        if query.with_facets:
            body["aggs"] = {
                "languages": {"terms": {"field": "language", "size": LANGUAGE_FACET_SIZE}},
                "tags": {"terms": {"field": "tags", "size": TAG_FACET_SIZE}},
                "frameworks": {"terms": {"field": "frameworks", "size": FRAMEWORK_FACET_SIZE}},
            }
        if words and query.with_highlights:
            body["highlight"] = {
                "pre_tags": [HIGHLIGHT_START],
                "post_tags": [HIGHLIGHT_END],
                "require_field_match": False,
                "fields": {
                    "name": {"number_of_fragments": 0},
                    "description": {"fragment_size": 150, "number_of_fragments": 2},
                },
            }
        return body

    @staticmethod
    def _word_clause(word: str) -> dict[str, Any]:
        return word_clause(word, TEXT_FIELDS, ["name", "description", "tags.text"])

    async def search(self, query: SearchQuery) -> SearchResult:
        body = self.search_body(query)
        try:
            response = await self.client.search(index=self.tenant_alias(query.tenant_id), body=body)
        except NotFoundError:
            # A tenant indexed before its alias existed: the shared alias, routed to its shard.
            response = await self.client.search(
                index=self.alias, body=body, params={"routing": query.tenant_id}
            )
        return self.parse_search(response)

    @staticmethod
    def parse_search(response: dict[str, Any]) -> SearchResult:
        hits: list[SearchHit] = []
        for raw in response["hits"]["hits"]:
            source = raw["_source"]
            highlight = raw.get("highlight", {})
            hits.append(
                SearchHit(
                    poc_id=source["poc_id"],
                    user_id=source["user_id"],
                    name=source["name"],
                    description=source.get("description"),
                    repository_url=source.get("repository_url"),
                    language=source.get("language"),
                    is_public=bool(source["is_public"]),
                    tags=list(source.get("tags") or []),
                    frameworks=list(source.get("frameworks") or []),
                    created_at=parse_instant(source["created_at"]),
                    updated_at=parse_instant(source["updated_at"]),
                    version=int(source["version"]),
                    has_thumbnail=source.get("thumbnail_key") is not None,
                    score=raw.get("_score"),
                    highlights={field: list(fragments) for field, fragments in highlight.items()},
                )
            )
        aggregations = response.get("aggregations", {})

        def buckets(name: str) -> list[FacetBucket]:
            return [
                FacetBucket(value=str(bucket["key"]), count=int(bucket["doc_count"]))
                for bucket in aggregations.get(name, {}).get("buckets", [])
            ]

        return SearchResult(
            hits=hits,
            total=total_hits(response),
            facets=Facets(
                languages=buckets("languages"), tags=buckets("tags"), frameworks=buckets("frameworks")
            ),
        )

    def suggestion_body(self, query: SuggestionQuery) -> dict[str, Any]:
        filters = self._scope_filters(query.tenant_id, query.viewer_id)
        if query.kind == "tag":
            filters.append({"prefix": {"tags.key": fold(query.prefix)}})
            return {
                "size": 0,
                "query": {"bool": {"filter": filters}},
                "aggs": {"tags": {"terms": {"field": "tags", "size": query.limit * 5}}},
            }
        return {
            "size": query.limit,
            "query": {
                "bool": {
                    "filter": filters,
                    "must": [
                        {
                            "multi_match": {
                                "query": query.prefix,
                                "type": "bool_prefix",
                                "fields": PREFIX_FIELDS,
                            }
                        }
                    ],
                }
            },
            "collapse": {"field": "name.keyword"},
            "_source": ["name"],
        }

    async def suggest(self, query: SuggestionQuery) -> list[str]:
        if not query.prefix.strip():
            return []
        response = await self.client.search(
            index=self.alias, body=self.suggestion_body(query), params={"routing": query.tenant_id}
        )
        if query.kind == "tag":
            prefix = fold(query.prefix)
            tags = [
                str(bucket["key"])
                for bucket in response["aggregations"]["tags"]["buckets"]
                if fold(str(bucket["key"])).startswith(prefix)
            ]
            return tags[: query.limit]
        return [str(hit["_source"]["name"]) for hit in response["hits"]["hits"]]

    # -- index management ------------------------------------------------------------------------

    async def live_index(self) -> str | None:
        """The concrete generation behind the shared alias, if the indices exist."""
        try:
            response = await self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return None
        return sorted(response)[-1] if response else None

    async def ensure_indices(self) -> list[str]:
        if await self.live_index() is not None:
            return []
        index = self.generation_index(1)
        body = self.index_body()
        body["aliases"] = {self.alias: {"is_write_index": True}}
        await self.client.indices.create(index=index, body=body)
        return [index, self.alias]

    async def update_mappings(self) -> list[str]:
        live = await self.live_index()
        if live is None:
            return await self.ensure_indices()
        await self.client.indices.put_mapping(index=live, body=copy.deepcopy(INDEX_MAPPINGS))
        return [live]

    async def create_tenant_index(self, tenant_id: str) -> None:
        live = await self.live_index()
        if live is None:
            await self.ensure_indices()
            live = self.generation_index(1)
        await self.client.indices.update_aliases(
            body={
                "actions": [
                    {
                        "add": {
                            "index": live,
                            "alias": self.tenant_alias(tenant_id),
                            "filter": {"term": {"tenant_id": tenant_id}},
                            "routing": tenant_id,
                        }
                    }
                ]
            }
        )

    async def drop_tenant_index(self, tenant_id: str) -> int:
        response = await self.client.delete_by_query(
            index=self.alias,
            body={"query": {"term": {"tenant_id": tenant_id}}},
            params={"routing": tenant_id, "conflicts": "proceed", "refresh": "true"},
        )
        try:
            await self.client.indices.delete_alias(index="_all", name=self.tenant_alias(tenant_id))
        except NotFoundError:
            pass
        return int(response.get("deleted", 0))

    async def list_aliases(self, tenant_id: str | None = None) -> dict[str, str]:
        name = self.tenant_alias(tenant_id) if tenant_id else f"{self.prefix}*"
        try:
            response = await self.client.indices.get_alias(name=name)
        except NotFoundError:
            return {}
        return {
            alias: index
            for index, entry in sorted(response.items())
            for alias in sorted(entry.get("aliases", {}))
        }

    async def describe(self) -> list[IndexDescription]:
        rows = await self.client.cat.indices(index=f"{self.prefix}-v*", params={"format": "json"})
        aliases = await self.list_aliases()
        descriptions: list[IndexDescription] = []
        for row in sorted(rows, key=lambda item: str(item["index"])):
            name = str(row["index"])
            descriptions.append(
                IndexDescription(
                    name=name,
                    documents=int(row.get("docs.count") or 0),
                    aliases=sorted(alias for alias, index in aliases.items() if index == name),
                    details={
                        "health": str(row.get("health", "")),
                        "size": str(row.get("store.size", "")),
                        "tenantAliases": str(
                            sum(
                                1 for alias, index in aliases.items() if index == name and alias != self.alias
                            )
                        ),
                    },
                )
            )
        return descriptions

    async def count_documents(self, tenant_id: str | None = None) -> int:
        if tenant_id is None:
            response = await self.client.count(index=self.alias)
        else:
            response = await self.client.count(
                index=self.alias,
                body={"query": {"term": {"tenant_id": tenant_id}}},
                params={"routing": tenant_id},
            )
        return int(response["count"])

    # -- reindex ----------------------------------------------------------------------------------

    async def begin_reindex(self, tenant_id: str | None, started_at: str) -> ReindexTarget:
        live = await self.live_index()
        if live is None:
            await self.ensure_indices()
            live = self.generation_index(1)
        total = await self.count_documents(tenant_id)
        if tenant_id is not None:
            return ReindexTarget(
                tenant_id=tenant_id, source=live, target=live, started_at=started_at, total=total
            )
        match = _GENERATION.search(live)
        generation = int(match["generation"]) + 1 if match else 2
        target = self.generation_index(generation)
        try:
            await self.client.indices.create(index=target, body=self.index_body())
        except Exception as exc:
            # A retried activity finds its own index already there.
            if "resource_already_exists_exception" not in str(exc):
                raise
        return ReindexTarget(tenant_id=None, source=live, target=target, started_at=started_at, total=total)

    def _page_body(
        self, tenant_id: str | None, after: tuple[str, str] | None, size: int, since: str | None = None
    ) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if tenant_id is not None:
            filters.append({"term": {"tenant_id": tenant_id}})
        if since is not None:
            filters.append({"range": {"indexed_at": {"gte": since}}})
        body: dict[str, Any] = {
            "size": size,
            "query": {"bool": {"filter": filters}} if filters else {"match_all": {}},
            "sort": [{"tenant_id": "asc"}, {"poc_id": "asc"}],
            "version": True,
        }
        if after is not None:
            body["search_after"] = [after[0], after[1]]
        return body

    async def _copy_page(
        self, source: str, target: str, body: dict[str, Any], routing: str | None
    ) -> tuple[int, tuple[str, str] | None]:
        params = {"routing": routing} if routing else {}
        response = await self.client.search(index=source, body=body, params=params)
        page = response["hits"]["hits"]
        if not page:
            return 0, None
        operations: list[dict[str, Any]] = []
        for raw in page:
            operations.append(
                {
                    "index": {
                        "_index": target,
                        "_id": raw["_id"],
                        "routing": raw["_source"]["tenant_id"],
                        "version": raw["_version"],
                        "version_type": "external_gte",
                    }
                }
            )
            operations.append(raw["_source"])
        await self.client.bulk(body=operations)
        last = page[-1]["sort"]
        return len(page), (str(last[0]), str(last[1]))

    async def reindex_batch(
        self, target: ReindexTarget, after: tuple[str, str] | None, limit: int
    ) -> ReindexBatchResult:
        copied, last = await self._copy_page(
            target.source, target.target, self._page_body(target.tenant_id, after, limit), target.tenant_id
        )
        if last is None:
            return ReindexBatchResult(copied=0, done=True)
        return ReindexBatchResult(
            copied=copied, last_tenant_id=last[0], last_poc_id=last[1], done=copied < limit
        )

    async def finish_reindex(self, target: ReindexTarget) -> list[str]:
        if target.source == target.target:
            await self.client.indices.refresh(index=target.target)
            return [f"rewrote tenant {target.tenant_id} in {target.target}"]
        notes: list[str] = []
        existing = await self.client.indices.get_alias(index=target.source)
        aliases: dict[str, Any] = existing.get(target.source, {}).get("aliases", {})
        actions: list[dict[str, Any]] = []
        for alias, definition in sorted(aliases.items()):
            actions.append({"remove": {"index": target.source, "alias": alias}})
            added: dict[str, Any] = {"index": target.target, "alias": alias}
            if alias == self.alias:
                added["is_write_index"] = True
            if "filter" in definition:
                added["filter"] = definition["filter"]
            if "index_routing" in definition:
                added["routing"] = definition["index_routing"]
            actions.append({"add": added})
        await self.client.indices.refresh(index=target.target)
        await self.client.indices.update_aliases(body={"actions": actions})
        notes.append(f"moved {len(aliases)} aliases from {target.source} to {target.target}")
        caught_up = 0
        after: tuple[str, str] | None = None
        while True:
            copied, after = await self._copy_page(
                target.source,
                target.target,
                self._page_body(None, after, CATCH_UP_PAGE_SIZE, since=target.started_at),
                None,
            )
            caught_up += copied
            if after is None or copied < CATCH_UP_PAGE_SIZE:
                break
        notes.append(f"copied {caught_up} documents written during the copy")
        await self.client.indices.delete(index=target.source)
        notes.append(f"deleted {target.source}")
        return notes

    async def abort_reindex(self, target: ReindexTarget) -> None:
        if target.source == target.target or await self.live_index() == target.target:
            return
        try:
            await self.client.indices.delete(index=target.target)
        except NotFoundError:
            pass
