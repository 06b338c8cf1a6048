# ruff: noqa: S608 - statements join constant SQL and numbered placeholders; values are always bound
"""The embedded engine's dojo read model: table ``dojo_search_documents`` in database ``search``.

It shares the POC engine's Piccolo engine (and pool), its text folding and its typo correction
(`api.search.postgres_text`), with a lexicon of its own (``dojo_search_terms``). Writes run in
`tenant_transaction`; a search is one statement that sets the tenant itself, so row-level
security confines every read to the caller's tenant, and a second statement follows only when a
misspelt word must be corrected first (as for POCs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from api.common.tenancy import tenant_transaction
from api.search.dojo_engine import DojoHit, DojoQuery, DojoSearchResult
from api.search.postgres_text import (
    RANK_WEIGHTS,
    SqlParameters,
    TableReadModel,
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
from api.search.text import query_words
from workflows.dojo_indexing_types import DojoDocument, DojoVersion

TABLE = "dojo_search_documents"
TERMS_TABLE = "dojo_search_terms"

DOCUMENT_COLUMNS = (
    "tenant_id, dojo_id, version, deleted, creator_id, member_ids, is_private, status,"
    " scheduled_start_time, created_at, started_at, ended_at, participant_count, name, description, language"
)

UPSERT_SQL = f"""
INSERT INTO {TABLE} AS d ({DOCUMENT_COLUMNS}, indexed_at)
VALUES ($1, $2, $3, FALSE, $4, $5::uuid[], $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
ON CONFLICT (tenant_id, dojo_id) DO UPDATE SET
  version = EXCLUDED.version, deleted = FALSE, creator_id = EXCLUDED.creator_id,
  member_ids = EXCLUDED.member_ids, is_private = EXCLUDED.is_private, status = EXCLUDED.status,
  scheduled_start_time = EXCLUDED.scheduled_start_time, created_at = EXCLUDED.created_at,
  started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
  participant_count = EXCLUDED.participant_count, name = EXCLUDED.name,
  description = EXCLUDED.description, language = EXCLUDED.language, indexed_at = now()
WHERE d.version < EXCLUDED.version
RETURNING d.version
"""

LEXICON_SQL = f"""
INSERT INTO {TERMS_TABLE} (tenant_id, term)
SELECT DISTINCT $1::uuid, word FROM search_words($2) AS word
ORDER BY 2
ON CONFLICT DO NOTHING
"""

TOMBSTONE_SQL = f"""
INSERT INTO {TABLE} AS d (tenant_id, dojo_id, version, deleted, indexed_at)
VALUES ($1, $2, $3, TRUE, now())
ON CONFLICT (tenant_id, dojo_id) DO UPDATE SET
  version = EXCLUDED.version, deleted = TRUE, name = '', description = NULL, member_ids = '{{}}',
  is_private = TRUE, participant_count = 0, indexed_at = now()
WHERE d.version < EXCLUDED.version
RETURNING d.version
"""

HIT_COLUMNS = (
    "h.dojo_id, h.creator_id, h.name, h.description, h.language, h.status, h.is_private,"
    " h.scheduled_start_time, h.created_at, h.started_at, h.ended_at, h.participant_count, h.version"
)
"""What a hit carries, in `_hit`'s order, followed by its score."""

ORDERS: dict[str, list[str]] = {
    "upcoming": ["status_rank", "scheduled_start_time", "dojo_id"],
    "relevance": ["score DESC", "status_rank", "scheduled_start_time", "dojo_id"],
    "newest": ["created_at DESC", "dojo_id"],
}
"""``scheduled_start_time`` ascending puts dojos without one last (PostgreSQL's NULLS LAST)."""


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else stored_instant(value)


def _document_row(document: DojoDocument) -> tuple[Any, ...]:
    return (
        document.tenant_id,
        document.dojo_id,
        document.version,
        document.creator_id,
        sorted(set(document.member_ids)),
        document.is_private,
        document.status,
        _timestamp(document.scheduled_start_time),
        _timestamp(document.created_at),
        _timestamp(document.started_at),
        _timestamp(document.ended_at),
        document.participant_count,
        document.name,
        document.description,
        document.language,
    )


class PostgresDojoEngine(TableReadModel[DojoVersion]):
    """The dojo read model on `engine`, whose pool the POC engine opens and closes."""

    table = TABLE
    id_column = "dojo_id"
    version_type = DojoVersion

    def __init__(self, engine: PostgresEngine) -> None:
        self.engine = engine

    # -- writes ----------------------------------------------------------------------------

    async def upsert(self, document: DojoDocument) -> bool:
        if document.deleted:
            return await self.delete(document.tenant_id, document.dojo_id, document.version)
        async with tenant_transaction(self.engine, document.tenant_id) as transaction:
            connection = transaction.connection
            row = await connection.fetchrow(UPSERT_SQL, *_document_row(document))
            if row is None:
                return False
            await connection.execute(
                LEXICON_SQL, document.tenant_id, f"{document.name} {document.description or ''}"
            )
            return True

    async def delete(self, tenant_id: str, dojo_id: str, version: int) -> bool:
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            row = await transaction.connection.fetchrow(TOMBSTONE_SQL, tenant_id, dojo_id, version)
        return row is not None

    # -- queries ---------------------------------------------------------------------------

    async def search(self, query: DojoQuery) -> DojoSearchResult:
        """One statement per search; a second only when a word must be corrected first."""
        row = await corrected_search(
            self.engine,
            query.tenant_id,
            query_words(query.text),
            lambda groups, check_lexicon: self.search_sql(query, groups, check_lexicon=check_lexicon),
        )
        if row is None:  # pragma: no cover - the statement always answers one row
            return DojoSearchResult(hits=[], total=0)
        return DojoSearchResult(hits=[_hit(record) for record in row["hits"]], total=int(row["total"]))

    def search_sql(
        self, query: DojoQuery, word_groups: list[list[str]], *, check_lexicon: bool
    ) -> tuple[str, list[Any]]:
        """The whole search as one statement: scope, (lexicon check,) matches, page.

        As the POC search: the first CTE sets the tenant for the statement's own transaction,
        every read of a table sits in a LATERAL subquery that depends on it (``OFFSET 0`` keeps
        PostgreSQL from flattening it), so row-level security filters each read; matches are
        read once, narrow (id and sort keys), and only the page's rows are read in full.
        """
        bind = SqlParameters()
        viewer = bind(query.viewer_id)
        scope = scope_columns(bind, query.tenant_id, check_lexicon=check_lexicon)
        clauses = [
            "NOT d.deleted",
            f"(NOT d.is_private OR d.creator_id = {viewer}::uuid OR {viewer}::uuid = ANY(d.member_ids))",
        ]
        if query.statuses:
            # The ranks, not the names: a status filter then narrows the index range itself.
            statuses = bind(list(query.statuses))
            scope.append(
                f"ARRAY(SELECT search_dojo_status_rank(item) FROM unnest({statuses}::text[]) AS item)"
                " AS ranks"
            )
            clauses.append("d.status_rank = ANY(scope.ranks)")
        if query.languages:
            scope.append(f"search_keys({bind(list(query.languages))}::text[]) AS languages")
            clauses.append("d.language_key = ANY(scope.languages)")
        if query.scheduled_from is not None:
            clauses.append(f"d.scheduled_start_time >= {bind(query.scheduled_from)}")
        if query.scheduled_to is not None:
            clauses.append(f"d.scheduled_start_time < {bind(query.scheduled_to)}")
        ctes = [f"scope AS MATERIALIZED (SELECT {', '.join(scope)})"]
        has_text = bool(word_groups)
        sort = query.sort if has_text or query.sort != "relevance" else "upcoming"
        gate = ""
        if check_lexicon:
            ctes.append(lexicon_ctes(word_groups, bind, terms_table=TERMS_TABLE))
            gate = " WHERE (SELECT ready FROM gate)"
        sources = "scope"
        if has_text:
            ctes.append(f"q AS MATERIALIZED (SELECT {text_query_sql(word_groups, bind)} AS query)")
            clauses.append("d.search_vector @@ q.query")
            sources = "scope, q"
        matched_columns = ["d.dojo_id", "d.status_rank", "d.scheduled_start_time", "d.created_at"]
        if sort == "relevance":
            matched_columns.append(f"ts_rank_cd('{RANK_WEIGHTS}', d.search_vector, q.query) AS score")
        ctes.append(
            f"matched AS MATERIALIZED (SELECT m.* FROM {sources}, LATERAL ("
            f"SELECT {', '.join(matched_columns)} FROM {TABLE} AS d"
            f" WHERE d.tenant_id = scope.tenant_id AND {' AND '.join(clauses)} OFFSET 0) AS m{gate})"
        )
        order = ORDERS[sort]
        ctes.append(page_cte(order, bind, limit=query.limit, offset=query.offset))
        hits = page_rows_sql(
            f"{HIT_COLUMNS}, {score_sql(sort, has_text=has_text)}",
            table=TABLE,
            id_column="dojo_id",
            order=order,
            has_text=has_text,
        )
        corrections = corrections_sql(check_lexicon=check_lexicon)
        sql = (
            f"WITH {', '.join(ctes)}"
            f" SELECT (SELECT count(*) FROM matched) AS total, {hits} AS hits, {corrections} AS corrections"
        )
        return sql, bind.args


def _hit(record: Sequence[Any]) -> DojoHit:
    (
        dojo_id,
        creator_id,
        name,
        description,
        language,
        status,
        is_private,
        scheduled_start_time,
        created_at,
        started_at,
        ended_at,
        participant_count,
        version,
        score,
    ) = record
    return DojoHit(
        dojo_id=str(dojo_id),
        creator_id=str(creator_id),
        name=name,
        description=description,
        language=language,
        status=status,
        is_private=is_private,
        scheduled_start_time=scheduled_start_time,
        created_at=created_at,
        started_at=started_at,
        ended_at=ended_at,
        participant_count=int(participant_count),
        version=int(version),
        score=score,
    )
