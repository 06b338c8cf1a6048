# ruff: noqa: S608 - statements join constant SQL and numbered placeholders; values are always bound
"""The embedded search engine: PostgreSQL full text, trigrams and GIN indexes in database ``search``.

Every statement runs as the application role inside `tenant_transaction`, so row-level
security confines it to one tenant; only reconciliation and reindexing use a platform scope.
Text is folded by the database's own IMMUTABLE ``search_key`` (unaccent + lowercase) on both
sides, so "programacao" meets "Programação". A query word that is neither a word nor the start
of a word of the tenant's lexicon is corrected to lexicon words within OpenSearch's AUTO edit
distance (transpositions count once), found through the trigram index: "pyhton" -> "python".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from api.common.settings import Settings
from api.common.tenancy import platform_transaction, tenant_transaction
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
from api.search.text import allowed_edits, edit_distance, query_words
from workflows.poc_indexing_types import PocDocument, PocVersion
from workflows.search_index_types import ReindexBatchResult, ReindexTarget

SERVICE = "search"
TABLE = "search_documents"
TRIGRAM_THRESHOLD = "0.2"
"""Low enough that one transposition in a six-letter word (similarity 0.27) stays a candidate."""
CANDIDATES_PER_WORD = 8
RANK_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"
"""ts_rank_cd weights of D, C (description), B (tags), A (name): the name is boosted."""
HEADLINE_OPTIONS = (
    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxFragments=2, MaxWords=24, MinWords=8, "
    "FragmentDelimiter= … "
)
NAME_HEADLINE_OPTIONS = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, HighlightAll=true"

DOCUMENT_COLUMNS = (
    "tenant_id, poc_id, version, deleted, user_id, name, description, repository_url, language,"
    " is_public, tags, frameworks, thumbnail_key, created_at, updated_at"
)

UPSERT_SQL = f"""
INSERT INTO {TABLE} AS d ({DOCUMENT_COLUMNS}, indexed_at)
SELECT tenant_id, poc_id, version, deleted, user_id, name, description, repository_url, language,
  is_public, tags::text[], frameworks::text[], thumbnail_key, created_at, updated_at, now()
FROM unnest(
  $1::uuid[], $2::uuid[], $3::bigint[], $4::boolean[], $5::uuid[], $6::text[], $7::text[], $8::text[],
  $9::text[], $10::boolean[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[]
) AS source(tenant_id, poc_id, version, deleted, user_id, name, description, repository_url, language,
  is_public, tags, frameworks, thumbnail_key, created_at, updated_at)
ON CONFLICT (tenant_id, poc_id) DO UPDATE SET
  version = EXCLUDED.version, deleted = EXCLUDED.deleted, user_id = EXCLUDED.user_id,
  name = EXCLUDED.name, description = EXCLUDED.description, repository_url = EXCLUDED.repository_url,
  language = EXCLUDED.language, is_public = EXCLUDED.is_public, tags = EXCLUDED.tags,
  frameworks = EXCLUDED.frameworks, thumbnail_key = EXCLUDED.thumbnail_key,
  created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, indexed_at = now()
WHERE d.version < EXCLUDED.version
RETURNING d.tenant_id, d.deleted, d.name, d.description, d.tags
"""
"""Column arrays; ``tags`` and ``frameworks`` travel as one text[] literal per row (not rectangular)."""

UPSERT_ONE_SQL = f"""
INSERT INTO {TABLE} AS d ({DOCUMENT_COLUMNS}, indexed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
ON CONFLICT (tenant_id, poc_id) DO UPDATE SET
  version = EXCLUDED.version, deleted = EXCLUDED.deleted, user_id = EXCLUDED.user_id,
  name = EXCLUDED.name, description = EXCLUDED.description, repository_url = EXCLUDED.repository_url,
  language = EXCLUDED.language, is_public = EXCLUDED.is_public, tags = EXCLUDED.tags,
  frameworks = EXCLUDED.frameworks, thumbnail_key = EXCLUDED.thumbnail_key,
  created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, indexed_at = now()
WHERE d.version < EXCLUDED.version
RETURNING d.deleted
"""

LEXICON_SQL = """
INSERT INTO search_terms (tenant_id, term)
SELECT DISTINCT tenant_id, word
FROM unnest($1::uuid[], $2::text[]) AS source(tenant_id, content), search_words(content) AS word
ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""

TOMBSTONE_SQL = f"""
INSERT INTO {TABLE} AS d (tenant_id, poc_id, version, deleted, indexed_at)
VALUES ($1, $2, $3, TRUE, now())
ON CONFLICT (tenant_id, poc_id) DO UPDATE SET
  version = EXCLUDED.version, deleted = TRUE, name = '', description = NULL, repository_url = NULL,
  tags = '{{}}', frameworks = '{{}}', thumbnail_key = NULL, is_public = FALSE, indexed_at = now()
WHERE d.version < EXCLUDED.version
RETURNING d.version
"""

WORD_CANDIDATES_SQL = """
SELECT word, search_key(word) AS key,
  EXISTS (
    SELECT 1 FROM search_terms t
    WHERE t.tenant_id = $1 AND t.term LIKE search_key(word) || '%'
  ) AS known,
  ARRAY(
    SELECT t.term FROM search_terms t
    WHERE t.tenant_id = $1 AND t.term % search_key(word)
    ORDER BY similarity(t.term, search_key(word)) DESC, t.term
    LIMIT $3
  ) AS candidates
FROM unnest($2::text[]) AS word
"""

REINDEX_BATCH_SQL = f"""
WITH batch AS (
  SELECT tenant_id, poc_id FROM {TABLE}
  WHERE ($1::uuid IS NULL OR tenant_id = $1)
    AND ($2::uuid IS NULL OR (tenant_id, poc_id) > ($2::uuid, $3::uuid))
  ORDER BY tenant_id, poc_id
  LIMIT $4
  FOR UPDATE
), touched AS (
  UPDATE {TABLE} AS d
  SET name = d.name, description = d.description, tags = d.tags, frameworks = d.frameworks,
      language = d.language
  FROM batch WHERE d.tenant_id = batch.tenant_id AND d.poc_id = batch.poc_id
  RETURNING d.tenant_id, d.poc_id, d.deleted, d.name, d.description, d.tags
), terms AS (
  INSERT INTO search_terms (tenant_id, term)
  SELECT DISTINCT touched.tenant_id, word
  FROM touched,
    search_words(touched.name || ' ' || coalesce(touched.description, '') || ' '
                 || search_joined(touched.tags)) AS word
  WHERE NOT touched.deleted
  ORDER BY 1, 2
  ON CONFLICT DO NOTHING
)
SELECT count(*) AS copied,
  (array_agg(tenant_id::text ORDER BY tenant_id DESC, poc_id DESC))[1] AS last_tenant_id,
  (array_agg(poc_id::text ORDER BY tenant_id DESC, poc_id DESC))[1] AS last_poc_id
FROM touched
"""


def _content(name: str, description: str | None, tags: Sequence[str]) -> str:
    return " ".join([name, description or "", *tags])


def _timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _document_row(document: PocDocument) -> tuple[Any, ...]:
    return (
        document.tenant_id,
        document.poc_id,
        document.version,
        document.deleted,
        document.user_id,
        document.name,
        document.description,
        document.repository_url,
        document.language,
        document.is_public,
        list(document.tags),
        list(document.frameworks),
        document.thumbnail_key,
        _timestamp(document.created_at),
        _timestamp(document.updated_at),
    )


class _Sql:
    """Placeholders for a statement under construction: values never enter the SQL text."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


class PostgresSearchEngine:
    kind = "postgres"

    def __init__(self, dsn: str, *, pool_min: int = 2, pool_max: int = 10) -> None:
        self.dsn = dsn
        self._pool_size = (pool_min, pool_max)
        self.engine = PostgresEngine(config={"dsn": dsn}, log_queries=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_max: int | None = None) -> Self:
        return cls(
            settings.database_url(SERVICE),
            pool_min=settings.db_pool_min,
            pool_max=pool_max or settings.db_pool_max,
        )

    async def start(self) -> None:
        await self.engine.start_connection_pool(min_size=self._pool_size[0], max_size=self._pool_size[1])

    async def close(self) -> None:
        await self.engine.close_connection_pool()

    async def ping(self) -> None:
        await self.engine.run_ddl("SELECT 1", in_pool=True)

    # -- writes ----------------------------------------------------------------------------

    async def upsert(self, document: PocDocument) -> bool:
        if document.deleted:
            return await self.delete(document.tenant_id, document.poc_id, document.version)
        async with tenant_transaction(self.engine, document.tenant_id) as transaction:
            connection = transaction.connection
            row = await connection.fetchrow(UPSERT_ONE_SQL, *_document_row(document))
            if row is None:
                return False
            await connection.execute(
                LEXICON_SQL,
                [document.tenant_id],
                [_content(document.name, document.description, document.tags)],
            )
            return True

    async def upsert_many(self, documents: Sequence[PocDocument]) -> int:
        """Bulk form of `upsert` for loads and benchmarks: one statement per tenant."""
        stored = 0
        by_tenant: dict[str, list[PocDocument]] = {}
        for document in documents:
            if document.deleted:
                stored += await self.delete(document.tenant_id, document.poc_id, document.version)
                continue
            by_tenant.setdefault(document.tenant_id, []).append(document)
        for tenant_id, batch in by_tenant.items():
            rows = [_document_row(document) for document in batch]
            columns = [list(column) for column in zip(*rows, strict=True)]
            # Text arrays of arrays are not rectangular; send tags as one literal per row.
            columns[10] = [_array_literal(tags) for tags in columns[10]]
            columns[11] = [_array_literal(frameworks) for frameworks in columns[11]]
            async with tenant_transaction(self.engine, tenant_id) as transaction:
                connection = transaction.connection
                applied = await connection.fetch(UPSERT_SQL, *columns)
                if applied:
                    await connection.execute(
                        LEXICON_SQL,
                        [row["tenant_id"] for row in applied],
                        [_content(row["name"], row["description"], row["tags"]) for row in applied],
                    )
                stored += len(applied)
        return stored

    async def delete(self, tenant_id: str, poc_id: str, version: int) -> bool:
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            row = await transaction.connection.fetchrow(TOMBSTONE_SQL, tenant_id, poc_id, version)
        return row is not None

    # -- queries ---------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchResult:
        async with tenant_transaction(self.engine, query.tenant_id) as transaction:
            connection = transaction.connection
            word_groups = await self._word_groups(connection, query.tenant_id, query.text)
            sql, args = self._page_sql(query, word_groups)
            rows = await connection.fetch(sql, *args)
            total = int(rows[0]["total"]) if rows else 0
            if not rows and query.offset > 0:
                count_sql, count_args = self._count_sql(query, word_groups)
                total = int(await connection.fetchval(count_sql, *count_args))
            facets = Facets()
            if query.with_facets and total > 0:
                facets = await self._facets(connection, query, word_groups)
        return SearchResult(hits=[self._hit(row) for row in rows], total=total, facets=facets)

    async def suggest(self, query: SuggestionQuery) -> list[str]:
        prefix = query.prefix.strip()
        if not prefix:
            return []
        async with tenant_transaction(self.engine, query.tenant_id) as transaction:
            connection = transaction.connection
            if query.kind == "tag":
                rows = await connection.fetch(
                    f"""
                    SELECT tag, count(*) AS uses FROM {TABLE}, unnest(tags) AS tag
                    WHERE tenant_id = $1 AND NOT deleted AND (user_id = $2 OR is_public)
                      AND starts_with(search_key(tag), search_key($3))
                    GROUP BY tag ORDER BY uses DESC, tag LIMIT $4
                    """,
                    query.tenant_id,
                    query.viewer_id,
                    prefix,
                    query.limit,
                )
                return [str(row["tag"]) for row in rows]
            rows = await connection.fetch(
                f"""
                WITH typed AS (
                  SELECT search_key($3) AS key,
                    btrim(regexp_replace(search_key($3), '[^[:alnum:]]+', ' ', 'g')) AS words
                )
                SELECT name FROM (
                  SELECT DISTINCT ON (d.name_key) d.name, d.name_key,
                    starts_with(d.name_key, typed.key) AS at_start
                  FROM {TABLE} AS d, typed
                  WHERE d.tenant_id = $1 AND NOT d.deleted AND (d.user_id = $2 OR d.is_public)
                    AND d.name_key LIKE '%' || replace(replace(replace(typed.key, '\\', '\\\\'),
                        '%', '\\%'), '_', '\\_') || '%'
                    AND position(' ' || typed.words IN
                        ' ' || regexp_replace(d.name_key, '[^[:alnum:]]+', ' ', 'g')) > 0
                  ORDER BY d.name_key, d.updated_at DESC
                ) AS names
                ORDER BY at_start DESC, name_key LIMIT $4
                """,
                query.tenant_id,
                query.viewer_id,
                prefix,
                query.limit,
            )
            return [str(row["name"]) for row in rows]

    async def _word_groups(
        self, connection: asyncpg.Connection, tenant_id: str, text: str | None
    ) -> list[list[str]]:
        """Each query word with the lexicon words it may be a misspelling of."""
        words = query_words(text)
        if not words:
            return []
        await connection.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', $1, true)", TRIGRAM_THRESHOLD
        )
        rows = await connection.fetch(WORD_CANDIDATES_SQL, tenant_id, words, CANDIDATES_PER_WORD)
        groups: list[list[str]] = []
        for row in rows:
            key = str(row["key"])
            group = [str(row["word"])]
            budget = allowed_edits(key)
            if not row["known"] and budget:
                group.extend(
                    candidate
                    for candidate in row["candidates"]
                    if edit_distance(key, candidate, limit=budget) <= budget
                )
            groups.append(group)
        return groups

    def _filters(self, query: SearchQuery, bind: _Sql) -> list[str]:
        clauses = [
            f"d.tenant_id = {bind(query.tenant_id)}",
            "NOT d.deleted",
            f"(d.user_id = {bind(query.viewer_id)} OR d.is_public)",
        ]
        if query.languages:
            clauses.append(f"d.language_key = ANY(search_keys({bind(list(query.languages))}::text[]))")
        if query.tags:
            operator = "@>" if query.tags_mode == "all" else "&&"
            clauses.append(f"d.tag_keys {operator} search_keys({bind(list(query.tags))}::text[])")
        if query.frameworks:
            operator = "@>" if query.frameworks_mode == "all" else "&&"
            clauses.append(f"d.framework_keys {operator} search_keys({bind(list(query.frameworks))}::text[])")
        if query.owner_id is not None:
            clauses.append(f"d.user_id = {bind(query.owner_id)}::uuid")
        if query.is_public is not None:
            clauses.append(f"d.is_public = {bind(query.is_public)}")
        if query.created_from is not None:
            clauses.append(f"d.created_at >= {bind(query.created_from)}")
        if query.created_to is not None:
            clauses.append(f"d.created_at < {bind(query.created_to)}")
        return clauses

    def _text_query(self, word_groups: list[list[str]], bind: _Sql) -> str:
        """A tsquery: every group must match, any word of a group may."""
        words: list[str] = []
        positions: list[int] = []
        prefixes: list[bool] = []
        for position, group in enumerate(word_groups):
            for index, word in enumerate(group):
                words.append(word)
                positions.append(position)
                prefixes.append(index == 0 and len(word) >= 3)
        return (
            "(SELECT search_tsquery_and(group_query) FROM ("
            " SELECT search_tsquery_or(search_word_query(word, prefix)) AS group_query"
            f" FROM unnest({bind(words)}::text[], {bind(positions)}::int[], {bind(prefixes)}::boolean[])"
            " AS item(word, position, prefix) GROUP BY position) AS groups)"
        )

    def _matched(
        self, query: SearchQuery, word_groups: list[list[str]], bind: _Sql, *, highlight: bool = False
    ) -> tuple[str, str, list[str]]:
        """The CTE prefix, FROM list and WHERE clauses of the rows a query matches."""
        clauses = self._filters(query, bind)
        if not word_groups:
            return "", f"{TABLE} AS d", clauses
        columns = f"{self._text_query(word_groups, bind)} AS query"
        if highlight:
            words = [word for group in word_groups for word in group]
            columns += f", search_highlight_query({bind(words)}::text[]) AS highlight"
        clauses.append("d.search_vector @@ q.query")
        return f"WITH q AS MATERIALIZED (SELECT {columns})", f"{TABLE} AS d, q", clauses

    def _count_sql(self, query: SearchQuery, word_groups: list[list[str]]) -> tuple[str, list[Any]]:
        bind = _Sql()
        cte, source, clauses = self._matched(query, word_groups, bind)
        return f"{cte} SELECT count(*) FROM {source} WHERE {' AND '.join(clauses)}", bind.args

    def _page_sql(self, query: SearchQuery, word_groups: list[list[str]]) -> tuple[str, list[Any]]:
        bind = _Sql()
        highlight = bool(word_groups) and query.with_highlights
        cte, source, clauses = self._matched(query, word_groups, bind, highlight=highlight)
        score = f"ts_rank_cd('{RANK_WEIGHTS}', d.search_vector, q.query)" if word_groups else "NULL::real"
        sort = query.sort if word_groups or query.sort != "relevance" else "newest"
        order = {
            "relevance": ["score DESC", "created_at DESC", "poc_id"],
            "newest": ["created_at DESC", "poc_id"],
            "name": ["name_key", "created_at DESC", "poc_id"],
        }[sort]
        inner_order = ", ".join(item if item.startswith("score") else f"d.{item}" for item in order)
        page = (
            "SELECT d.poc_id, d.user_id, d.name, d.name_key, d.description, d.repository_url, d.language,"
            " d.is_public, d.tags, d.frameworks, d.created_at, d.updated_at, d.version, d.thumbnail_key,"
            f" {score} AS score, count(*) OVER () AS total"
            f" FROM {source} WHERE {' AND '.join(clauses)}"
            f" ORDER BY {inner_order} LIMIT {bind(query.limit)} OFFSET {bind(query.offset)}"
        )
        outer_order = ", ".join(f"page.{item}" for item in order)
        if highlight:
            return (
                f"{cte} SELECT page.*,"
                " CASE WHEN to_tsvector('search_highlight', page.name) @@ q.highlight"
                f" THEN ts_headline('search_highlight', page.name, q.highlight, '{NAME_HEADLINE_OPTIONS}')"
                " END AS name_highlight,"
                " CASE WHEN to_tsvector('search_highlight', coalesce(page.description, '')) @@ q.highlight"
                " THEN ts_headline('search_highlight', page.description, q.highlight,"
                f" '{HEADLINE_OPTIONS}') END AS description_highlight"
                f" FROM ({page}) AS page, q ORDER BY {outer_order}",
                bind.args,
            )
        return (
            f"{cte} SELECT page.*, NULL::text AS name_highlight, NULL::text AS description_highlight"
            f" FROM ({page}) AS page ORDER BY {outer_order}",
            bind.args,
        )

    async def _facets(
        self, connection: asyncpg.Connection, query: SearchQuery, word_groups: list[list[str]]
    ) -> Facets:
        bind = _Sql()
        cte, source, clauses = self._matched(query, word_groups, bind)
        matched = f"SELECT d.language, d.tags, d.frameworks FROM {source} WHERE {' AND '.join(clauses)}"
        prefix = f"{cte}, matched AS ({matched})" if cte else f"WITH matched AS ({matched})"
        rows = await connection.fetch(
            f"""
            {prefix}
            SELECT 'languages' AS facet, language AS value, count(*) AS hits
              FROM matched WHERE language IS NOT NULL GROUP BY language
            UNION ALL
            SELECT 'tags', tag, count(*) FROM matched, unnest(tags) AS tag GROUP BY tag
            UNION ALL
            SELECT 'frameworks', framework, count(*) FROM matched, unnest(frameworks) AS framework
              GROUP BY framework
            """,
            *bind.args,
        )
        buckets: dict[str, list[FacetBucket]] = {"languages": [], "tags": [], "frameworks": []}
        for row in rows:
            buckets[row["facet"]].append(FacetBucket(value=str(row["value"]), count=int(row["hits"])))
        sizes = {"languages": LANGUAGE_FACET_SIZE, "tags": TAG_FACET_SIZE, "frameworks": FRAMEWORK_FACET_SIZE}
        for name, values in buckets.items():
            values.sort(key=lambda bucket: (-bucket.count, bucket.value))
            del values[sizes[name] :]
        return Facets(languages=buckets["languages"], tags=buckets["tags"], frameworks=buckets["frameworks"])

    @staticmethod
    def _hit(row: asyncpg.Record) -> SearchHit:
        highlights: dict[str, list[str]] = {}
        if row["name_highlight"]:
            highlights["name"] = [str(row["name_highlight"])]
        if row["description_highlight"]:
            highlights["description"] = [
                fragment.strip() for fragment in str(row["description_highlight"]).split(" … ")
            ]
        return SearchHit(
            poc_id=str(row["poc_id"]),
            user_id=str(row["user_id"]),
            name=str(row["name"]),
            description=row["description"],
            repository_url=row["repository_url"],
            language=row["language"],
            is_public=bool(row["is_public"]),
            tags=list(row["tags"]),
            frameworks=list(row["frameworks"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=int(row["version"]),
            has_thumbnail=row["thumbnail_key"] is not None,
            score=float(row["score"]) if row["score"] is not None else None,
            highlights=highlights,
        )

    # -- reconciliation ---------------------------------------------------------------------

    async def versions(
        self,
        after: tuple[str, str] | None,
        through: tuple[str, str] | None,
        limit: int | None = None,
        *,
        tenant_ids: Sequence[str] = (),
    ) -> list[PocVersion]:
        bind = _Sql()
        clauses = ["TRUE"]
        if tenant_ids:
            clauses.append(f"tenant_id = ANY({bind(list(tenant_ids))}::uuid[])")
        if after is not None:
            clauses.append(f"(tenant_id, poc_id) > ({bind(after[0])}::uuid, {bind(after[1])}::uuid)")
        if through is not None:
            clauses.append(f"(tenant_id, poc_id) <= ({bind(through[0])}::uuid, {bind(through[1])}::uuid)")
        limit_sql = f" LIMIT {bind(limit)}" if limit is not None else ""
        async with platform_transaction(self.engine) as transaction:
            rows = await transaction.connection.fetch(
                f"SELECT tenant_id, poc_id, version, deleted FROM {TABLE}"
                f" WHERE {' AND '.join(clauses)} ORDER BY tenant_id, poc_id{limit_sql}",
                *bind.args,
            )
        return [
            PocVersion(
                tenant_id=str(row["tenant_id"]),
                poc_id=str(row["poc_id"]),
                version=int(row["version"]),
                deleted=bool(row["deleted"]),
            )
            for row in rows
        ]

    # -- index management --------------------------------------------------------------------

    async def create_tenant_index(self, tenant_id: str) -> None:
        """Nothing to create: row-level security scopes the shared table; checks the scope works."""
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            await transaction.connection.fetchval(
                f"SELECT count(*) FROM {TABLE} WHERE tenant_id = $1", tenant_id
            )

    async def drop_tenant_index(self, tenant_id: str) -> int:
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            connection = transaction.connection
            removed = await connection.fetchval(
                f"WITH gone AS (DELETE FROM {TABLE} WHERE tenant_id = $1 RETURNING 1)"
                " SELECT count(*) FROM gone",
                tenant_id,
            )
            await connection.execute("DELETE FROM search_terms WHERE tenant_id = $1", tenant_id)
        return int(removed)

    async def ensure_indices(self) -> list[str]:
        """The schema belongs to migrations; this only confirms they ran."""
        async with platform_transaction(self.engine) as transaction:
            await transaction.connection.fetchval(f"SELECT count(*) FROM {TABLE} WHERE FALSE")
        return []

    async def update_mappings(self) -> list[str]:
        return []

    async def list_aliases(self, tenant_id: str | None = None) -> dict[str, str]:
        """The embedded engine has no aliases: every tenant reads the one table through RLS."""
        return {}

    async def describe(self) -> list[IndexDescription]:
        async with platform_transaction(self.engine) as transaction:
            connection = transaction.connection
            documents = await connection.fetchval(f"SELECT count(*) FROM {TABLE} WHERE NOT deleted")
            tombstones = await connection.fetchval(f"SELECT count(*) FROM {TABLE} WHERE deleted")
            tenants = await connection.fetchval(f"SELECT count(DISTINCT tenant_id) FROM {TABLE}")
            size = await connection.fetchval(f"SELECT pg_size_pretty(pg_total_relation_size('{TABLE}'))")
        return [
            IndexDescription(
                name=TABLE,
                documents=int(documents),
                details={"tombstones": str(tombstones), "tenants": str(tenants), "size": str(size)},
            )
        ]

    async def count_documents(self, tenant_id: str | None = None) -> int:
        if tenant_id is None:
            async with platform_transaction(self.engine) as transaction:
                return int(await transaction.connection.fetchval(f"SELECT count(*) FROM {TABLE}"))
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            return int(
                await transaction.connection.fetchval(
                    f"SELECT count(*) FROM {TABLE} WHERE tenant_id = $1", tenant_id
                )
            )

    # -- reindex: recompute stored vectors and keys in place, then rebuild the indexes -------------

    async def begin_reindex(self, tenant_id: str | None, started_at: str) -> ReindexTarget:
        total = await self.count_documents(tenant_id)
        return ReindexTarget(
            tenant_id=tenant_id, source=TABLE, target=TABLE, started_at=started_at, total=total
        )

    async def reindex_batch(
        self, target: ReindexTarget, after: tuple[str, str] | None, limit: int
    ) -> ReindexBatchResult:
        after_tenant, after_poc = after if after is not None else (None, None)
        scope = (
            tenant_transaction(self.engine, target.tenant_id)
            if target.tenant_id
            else platform_transaction(self.engine)
        )
        async with scope as transaction:
            row = await transaction.connection.fetchrow(
                REINDEX_BATCH_SQL, target.tenant_id, after_tenant, after_poc, limit
            )
        copied = int(row["copied"]) if row is not None else 0
        if copied == 0 or row is None:
            return ReindexBatchResult(copied=0, done=True)
        return ReindexBatchResult(
            copied=copied,
            last_tenant_id=row["last_tenant_id"],
            last_poc_id=row["last_poc_id"],
            done=copied < limit,
        )

    async def finish_reindex(self, target: ReindexTarget) -> list[str]:
        """Rebuild the indexes without blocking writes (REINDEX CONCURRENTLY needs no transaction)."""
        notes: list[str] = []
        connection = await asyncpg.connect(self.dsn)
        try:
            if target.tenant_id is None:
                for table in (TABLE, "search_terms"):
                    await connection.execute(f"REINDEX TABLE CONCURRENTLY {table}")
                    notes.append(f"reindexed {table}")
            await connection.execute(f"ANALYZE {TABLE}, search_terms")
            notes.append("analyzed")
        finally:
            await connection.close()
        return notes

    async def abort_reindex(self, target: ReindexTarget) -> None:
        """Batches rewrote rows in place, each committed and valid: nothing to undo."""


def _array_literal(values: Sequence[str]) -> str:
    """A PostgreSQL text[] literal with every element quoted."""
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"
