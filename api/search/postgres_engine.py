# ruff: noqa: S608 - statements join constant SQL and numbered placeholders; values are always bound
"""The embedded search engine: PostgreSQL full text and trigrams in database ``search``.

Every statement runs as the application role with the tenant set, so row-level security
confines it to one tenant: writes inside `tenant_transaction`, a search as one statement that
sets the tenant itself (see `_search_sql`); only reconciliation and reindexing use a platform
scope. Text is folded by the database's own IMMUTABLE ``search_key`` (unaccent + lowercase) on
both sides, so "programacao" meets "Programação". A query word that is neither a word nor the
start of a word of the tenant's lexicon is corrected to lexicon words within OpenSearch's AUTO
edit distance (transpositions count once), ranked by trigram similarity: "pyhton" -> "python".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from api.common.settings import Settings
from api.common.tenancy import platform_transaction, tenant_transaction
from api.search.dojo_postgres import PostgresDojoEngine
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
from api.search.postgres_text import (
    RANK_WEIGHTS,
    TableReadModel,
    corrected_groups,
    corrected_search,
    corrections_sql,
    lexicon_ctes,
    page_cte,
    page_rows_sql,
    scope_columns,
    score_sql,
    stored_instant,
    text_query_sql,
)
from api.search.postgres_text import SqlParameters as _Sql
from api.search.text import query_words
from workflows.poc_indexing_types import PocDocument, PocVersion
from workflows.search_index_types import ReindexBatchResult, ReindexTarget

SERVICE = "search"
TABLE = "search_documents"
TERMS_TABLE = "search_terms"
HEADLINE_OPTIONS = (
    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxFragments=2, MaxWords=24, MinWords=8, "
    "FragmentDelimiter= … "
)
NAME_HEADLINE_OPTIONS = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, HighlightAll=true"

HIT_COLUMNS = (
    "h.poc_id, h.user_id, h.name, h.description, h.repository_url, h.language, h.is_public, h.tags,"
    " h.frameworks, h.created_at, h.updated_at, h.version, h.thumbnail_key"
)
"""What a hit carries, in `_hit`'s order, followed by its score and highlights."""

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
        stored_instant(document.created_at),
        stored_instant(document.updated_at),
    )


class PostgresSearchEngine(TableReadModel[PocVersion]):
    kind = "postgres"

    table = TABLE
    id_column = "poc_id"
    version_type = PocVersion

    def __init__(self, dsn: str, *, pool_min: int = 2, pool_max: int = 10) -> None:
        self.dsn = dsn
        self._pool_size = (min(pool_min, pool_max), pool_max)
        self.engine = PostgresEngine(config={"dsn": dsn}, log_queries=False)
        self.dojos = PostgresDojoEngine(self.engine)
        """The dojo read model in the same database, on this engine's pool."""

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_max: int | None = None) -> Self:
        return cls(
            settings.database_url(SERVICE),
            pool_min=settings.db_pool_min,
            pool_max=pool_max or settings.db_pool_max,
        )

    async def start(self) -> None:
        await self.engine.start_connection_pool(
            min_size=self._pool_size[0], max_size=self._pool_size[1], reset=_keep_session
        )

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
        """One statement per search; a second only when a word must be corrected first.

        The first statement checks the query words against the tenant's lexicon and, when
        every word is known (or has nothing to be corrected to), already answers: hits, total,
        facets and highlights. Otherwise it answers only the correction candidates, which are
        filtered here by edit distance, and the corrected search follows.
        """
        row = await corrected_search(
            self.engine,
            query.tenant_id,
            query_words(query.text),
            lambda groups, check_lexicon: self._search_sql(query, groups, check_lexicon=check_lexicon),
        )
        if row is None:  # pragma: no cover - the statement always answers one row
            return SearchResult(hits=[], total=0, facets=Facets())
        return SearchResult(
            hits=[_hit(record) for record in row["hits"]],
            total=int(row["total"]),
            facets=_facets(row["facet_values"], row["facet_counts"]),
        )

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

    def _filters(self, query: SearchQuery, bind: _Sql) -> tuple[list[str], list[str]]:
        """Columns of ``scope`` (filter values folded once) and the clauses the client asked for.

        Folding a list of values with ``search_keys`` in ``scope`` evaluates it once per
        statement; inside the WHERE clause of a prepared statement it would run per row.
        """
        folded: list[str] = []
        clauses: list[str] = []
        if query.languages:
            folded.append(f"search_keys({bind(list(query.languages))}::text[]) AS languages")
            clauses.append("d.language_key = ANY(scope.languages)")
        if query.tags:
            folded.append(f"search_keys({bind(list(query.tags))}::text[]) AS tags")
            clauses.append(f"d.tag_keys {'@>' if query.tags_mode == 'all' else '&&'} scope.tags")
        if query.frameworks:
            folded.append(f"search_keys({bind(list(query.frameworks))}::text[]) AS frameworks")
            operator = "@>" if query.frameworks_mode == "all" else "&&"
            clauses.append(f"d.framework_keys {operator} scope.frameworks")
        if query.owner_id is not None:
            clauses.append(f"d.user_id = {bind(query.owner_id)}::uuid")
        if query.is_public is not None:
            clauses.append(f"d.is_public = {bind(query.is_public)}")
        if query.created_from is not None:
            clauses.append(f"d.created_at >= {bind(query.created_from)}")
        if query.created_to is not None:
            clauses.append(f"d.created_at < {bind(query.created_to)}")
        return folded, clauses

    def _search_sql(
        self, query: SearchQuery, word_groups: list[list[str]], *, check_lexicon: bool
    ) -> tuple[str, list[Any]]:
        """The whole search as one statement: scope, (lexicon check,) matches, page, facets.

        The tenant is set by the statement's first CTE, and every read of a table sits in a
        LATERAL subquery that depends on it (``OFFSET 0`` keeps PostgreSQL from flattening
        it), so row-level security filters each read by that tenant. ``set_config(..., true)``
        ends with the statement's own transaction: the pooled connection keeps nothing.
        Matches are read once, narrow (id, sort keys, facet values), into ``matched``;
        the total and the facets count it, the page sorts it, and only the page's rows are
        read in full, scored (unless sorted by relevance already) and highlighted.
        """
        bind = _Sql()
        viewer = bind(query.viewer_id)
        scope = scope_columns(bind, query.tenant_id, check_lexicon=check_lexicon)
        folded, clauses = self._filters(query, bind)
        ctes = [f"scope AS MATERIALIZED (SELECT {', '.join([*scope, *folded])})"]
        has_text = bool(word_groups)
        highlight = has_text and query.with_highlights
        sort = query.sort if has_text or query.sort != "relevance" else "newest"
        gate = ""
        if check_lexicon:
            ctes.append(lexicon_ctes(word_groups, bind, terms_table=TERMS_TABLE))
            gate = " WHERE (SELECT ready FROM gate)"
        sources = "scope"
        if has_text:
            columns = f"{text_query_sql(word_groups, bind)} AS query"
            if highlight:
                words = [word for group in word_groups for word in group]
                columns += f", search_highlight_query({bind(words)}::text[]) AS highlight"
            ctes.append(f"q AS MATERIALIZED (SELECT {columns})")
            clauses.append("d.search_vector @@ q.query")
            sources = "scope, q"
        matched_columns = ["d.poc_id", "d.created_at"]
        if sort == "name":
            matched_columns.append("d.name_key")
        if sort == "relevance":
            matched_columns.append(f"ts_rank_cd('{RANK_WEIGHTS}', d.search_vector, q.query) AS score")
        if query.with_facets:
            matched_columns.append("d.facet_values")
        # Visible = public, or the viewer's own: two disjoint index ranges, so rows the viewer
        # may not see are never read from the table.
        select = f"SELECT {', '.join(matched_columns)} FROM {TABLE} AS d WHERE d.tenant_id = scope.tenant_id"
        public = " AND ".join(["NOT d.deleted", "d.is_public", *clauses])
        own = " AND ".join(["NOT d.deleted", f"d.user_id = {viewer}::uuid", "NOT d.is_public", *clauses])
        ctes.append(
            f"matched AS MATERIALIZED (SELECT m.* FROM {sources}, LATERAL ("
            f"{select} AND {public} UNION ALL {select} AND {own} OFFSET 0) AS m{gate})"
        )
        order = {
            "relevance": ["score DESC", "created_at DESC", "poc_id"],
            "newest": ["created_at DESC", "poc_id"],
            "name": ["name_key", "created_at DESC", "poc_id"],
        }[sort]
        ctes.append(page_cte(order, bind, limit=query.limit, offset=query.offset))
        score = score_sql(sort, has_text=has_text)
        if highlight:
            # ts_headline marks every word matching the query; a field without a mark has no
            # match, and `_hit` leaves it out (no separate to_tsvector(...) @@ test per field).
            name_highlight = (
                f"ts_headline('search_highlight', h.name, q.highlight, '{NAME_HEADLINE_OPTIONS}')"
            )
            description_highlight = (
                f"ts_headline('search_highlight', h.description, q.highlight, '{HEADLINE_OPTIONS}')"
            )
        else:
            name_highlight = description_highlight = "NULL::text"
        hits = page_rows_sql(
            f"{HIT_COLUMNS}, {score}, {name_highlight}, {description_highlight}",
            table=TABLE,
            id_column="poc_id",
            order=order,
            has_text=has_text,
        )
        corrections = corrections_sql(check_lexicon=check_lexicon)
        if query.with_facets:
            facets_from = (
                " FROM (SELECT array_agg(value) AS facet_values, array_agg(hits) AS facet_counts"
                " FROM (SELECT value, count(*) AS hits FROM (SELECT unnest(matched.facet_values) AS value"
                " FROM matched) AS listed GROUP BY value) AS buckets) AS f"
            )
            facet_columns = "f.facet_values, f.facet_counts"
        else:
            facets_from = ""
            facet_columns = "NULL::text[] AS facet_values, NULL::bigint[] AS facet_counts"
        sql = (
            f"WITH {', '.join(ctes)}"
            f" SELECT (SELECT count(*) FROM matched) AS total, {facet_columns}, {hits} AS hits,"
            f" {corrections} AS corrections{facets_from}"
        )
        return sql, bind.args

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


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release without asyncpg's reset statement (``RESET ALL``, ``UNLISTEN *``, ...).

    This pool's connections never change their session: the tenant and every other setting
    are set with ``set_config(..., true)`` and end with their transaction, and nothing
    listens, holds advisory locks or keeps cursors. asyncpg still rolls back a transaction
    left open before this runs. One round trip less for every search.
    """


def _array_literal(values: Sequence[str]) -> str:
    """A PostgreSQL text[] literal with every element quoted."""
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


_corrected_groups = corrected_groups
"""Kept under its first name for the unit tests of the correction."""


def _facets(values: Sequence[str] | None, counts: Sequence[int] | None) -> Facets:
    """Buckets from ``l:``/``t:``/``f:`` values, most frequent first, capped like OpenSearch's."""
    buckets: dict[str, list[FacetBucket]] = {"l": [], "t": [], "f": []}
    for value, count in zip(values or (), counts or (), strict=True):
        buckets[value[0]].append(FacetBucket(value=value[2:], count=int(count)))
    for kind, size in (("l", LANGUAGE_FACET_SIZE), ("t", TAG_FACET_SIZE), ("f", FRAMEWORK_FACET_SIZE)):
        buckets[kind].sort(key=lambda bucket: (-bucket.count, bucket.value))
        del buckets[kind][size:]
    return Facets(languages=buckets["l"], tags=buckets["t"], frameworks=buckets["f"])


def _hit(record: Sequence[Any]) -> SearchHit:
    (
        poc_id,
        user_id,
        name,
        description,
        repository_url,
        language,
        is_public,
        tags,
        frameworks,
        created_at,
        updated_at,
        version,
        thumbnail_key,
        score,
        name_highlight,
        description_highlight,
    ) = record
    highlights: dict[str, list[str]] = {}
    if name_highlight and HIGHLIGHT_START in name_highlight:
        highlights["name"] = [name_highlight]
    if description_highlight and HIGHLIGHT_START in description_highlight:
        highlights["description"] = [fragment.strip() for fragment in description_highlight.split(" … ")]
    return SearchHit(
        poc_id=str(poc_id),
        user_id=str(user_id),
        name=name,
        description=description,
        repository_url=repository_url,
        language=language,
        is_public=is_public,
        tags=tags,
        frameworks=frameworks,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
        has_thumbnail=thumbnail_key is not None,
        score=score,
        highlights=highlights,
    )
