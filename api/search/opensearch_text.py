"""What both OpenSearch read models (POCs and dojos) share: folding analyzers and word clauses,
externally versioned writes, and the keyset listing of versions reconciliation compares.

Accents and case are folded at index time (``asciifolding``) and on keyword filters (the
``folded`` normalizer, `fold` on the values sent), so "programacao" meets "Programação".
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError

RefreshPolicy = Literal["false", "true", "wait_for"]
VersionT = TypeVar("VersionT")
VERSION_PAGE_SIZE = 1000

FOLDING_ANALYZERS: dict[str, Any] = {
    "folding": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
    "folding_pt": {
        "type": "custom",
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding", "portuguese_stemmer"],
    },
    "folding_en": {
        "type": "custom",
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding", "english_stemmer"],
    },
}
FOLDING_NORMALIZERS: dict[str, Any] = {"folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}}
STEMMER_FILTERS: dict[str, Any] = {
    "portuguese_stemmer": {"type": "stemmer", "language": "light_portuguese"},
    "english_stemmer": {"type": "stemmer", "language": "english"},
}


def folded_text(**subfields: dict[str, Any]) -> dict[str, Any]:
    """A text field folded at index time, with `subfields` and the stemmed ``pt`` and ``en`` ones."""
    return {
        "type": "text",
        "analyzer": "folding",
        "fields": {
            **copy.deepcopy(subfields),
            "pt": {"type": "text", "analyzer": "folding_pt"},
            "en": {"type": "text", "analyzer": "folding_en"},
        },
    }


def folded_keyword(**subfields: dict[str, Any]) -> dict[str, Any]:
    """A keyword field with a folded ``key`` subfield, which filters match accent- and case-blind."""
    return {
        "type": "keyword",
        "fields": {"key": {"type": "keyword", "normalizer": "folded"}, **copy.deepcopy(subfields)},
    }


NAME_KEYS: dict[str, dict[str, Any]] = {
    "keyword": {"type": "keyword"},
    "sort": {"type": "keyword", "normalizer": "folded"},
}
"""A name's exact and folded sort keys (subfields of `folded_text`)."""


def folding_analysis() -> dict[str, Any]:
    """The ``analysis`` settings of an index with folded, stemmed text fields (a fresh copy)."""
    return {
        "analyzer": copy.deepcopy(FOLDING_ANALYZERS),
        "normalizer": copy.deepcopy(FOLDING_NORMALIZERS),
        "filter": copy.deepcopy(STEMMER_FILTERS),
    }


def fold(value: str) -> str:
    """What the ``folded`` normalizer does to Latin text: lowercase without accents."""
    decomposed = unicodedata.normalize("NFKD", value.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def word_clause(word: str, fields: list[str], prefix_fields: list[str]) -> dict[str, Any]:
    """Each word must match some field: exactly, stemmed, misspelt (AUTO) or as a prefix."""
    should: list[dict[str, Any]] = [
        {"multi_match": {"query": word, "fields": fields, "fuzziness": "AUTO", "prefix_length": 1}}
    ]
    if len(word) >= 3:
        should.append({"multi_match": {"query": word, "type": "phrase_prefix", "fields": prefix_fields}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def optional_instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


def total_hits(response: dict[str, Any]) -> int:
    """The hit count, whether ``track_total_hits`` answered an object or (older servers) a number."""
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, dict) else total)


async def external_write(
    client: AsyncOpenSearch,
    *,
    index: str,
    document_id: str,
    routing: str,
    version: int,
    source: dict[str, Any],
    refresh: RefreshPolicy,
) -> bool:
    """Index `source` at `version` (external versioning); False when OpenSearch already holds this
    version or a newer one, so a late retry of an older version loses."""
    try:
        await client.index(
            index=index,
            id=document_id,
            body=source,
            params={
                "routing": routing,
                "version": str(version),
                "version_type": "external",
                "refresh": refresh,
            },
        )
    except ConflictError:
        return False
    return True


class ExternallyVersionedIndex(Generic[VersionT]):
    """What an OpenSearch read model's engine shares: its write alias, externally versioned writes
    and the versions reconciliation compares."""

    client: AsyncOpenSearch
    prefix: str
    refresh: RefreshPolicy
    id_field: ClassVar[str]
    version_type: Callable[[str, str, int, bool], VersionT]
    """Builds a version from (tenant_id, id, version, deleted)."""
    missing_index_is_empty: ClassVar[bool]
    """True when the index is created on first use, so a missing one holds no versions yet."""

    @property
    def alias(self) -> str:
        return self.prefix

    async def _write(self, tenant_id: str, entity_id: str, version: int, source: dict[str, Any]) -> bool:
        """Index `source` under the entity's id, routed by tenant, at `version`."""
        return await external_write(
            self.client,
            index=self.alias,
            document_id=entity_id,
            routing=tenant_id,
            version=version,
            source=source,
            refresh=self.refresh,
        )

    async def versions(
        self,
        after: tuple[str, str] | None,
        through: tuple[str, str] | None,
        limit: int | None = None,
        *,
        tenant_ids: Sequence[str] = (),
    ) -> list[VersionT]:
        return await read_versions(
            self.client,
            self.alias,
            self.version_type,
            id_field=self.id_field,
            after=after,
            through=through,
            limit=limit,
            tenant_ids=tenant_ids,
            missing_index_is_empty=self.missing_index_is_empty,
        )


def versions_body(
    after: tuple[str, str] | None,
    through: tuple[str, str] | None,
    size: int,
    tenant_ids: Sequence[str],
    *,
    id_field: str,
) -> dict[str, Any]:
    """One keyset page of (tenant_id, `id_field`) after `after` and up to `through` (inclusive)."""
    filters: list[dict[str, Any]] = []
    if tenant_ids:
        filters.append({"terms": {"tenant_id": list(tenant_ids)}})
    if through is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"tenant_id": {"lt": through[0]}}},
                        {
                            "bool": {
                                "filter": [
                                    {"term": {"tenant_id": through[0]}},
                                    {"range": {id_field: {"lte": through[1]}}},
                                ]
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    body: dict[str, Any] = {
        "size": size,
        "query": {"bool": {"filter": filters}} if filters else {"match_all": {}},
        "sort": [{"tenant_id": "asc"}, {id_field: "asc"}],
        "_source": ["version", "deleted"],
    }
    if after is not None:
        body["search_after"] = [after[0], after[1]]
    return body


async def read_versions(
    client: AsyncOpenSearch,
    index: str,
    make: Callable[[str, str, int, bool], VersionT],
    *,
    id_field: str,
    after: tuple[str, str] | None,
    through: tuple[str, str] | None,
    limit: int | None,
    tenant_ids: Sequence[str],
    missing_index_is_empty: bool,
) -> list[VersionT]:
    """Every (tenant, id, version, deleted) with after < key <= through, page by page, in key order.

    `missing_index_is_empty`: a read model whose index is created on first write has no versions
    before that; otherwise a missing index is an error.
    """
    found: list[VersionT] = []
    cursor = after
    while limit is None or len(found) < limit:
        size = VERSION_PAGE_SIZE if limit is None else min(VERSION_PAGE_SIZE, limit - len(found))
        body = versions_body(cursor, through, size, tenant_ids, id_field=id_field)
        try:
            response = await client.search(index=index, body=body)
        except NotFoundError:
            if missing_index_is_empty:
                return found
            raise
        page = response["hits"]["hits"]
        for raw in page:
            tenant_id, entity_id = raw["sort"]
            found.append(
                make(
                    str(tenant_id),
                    str(entity_id),
                    int(raw["_source"]["version"]),
                    bool(raw["_source"].get("deleted", False)),
                )
            )
        if len(page) < size:
            break
        cursor = (str(page[-1]["sort"][0]), str(page[-1]["sort"][1]))
    return found
