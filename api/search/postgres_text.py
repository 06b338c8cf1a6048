# ruff: noqa: S608 - statements join constant SQL and numbered placeholders; values are always bound
"""SQL pieces both embedded read models (POCs and dojos) build their one-statement searches from.

The database's IMMUTABLE functions (``search_key``, ``search_word_query``, ``search_tsquery_and``,
``search_tsquery_or``; see the first search migration) fold text the same way for both. Each read
model keeps its own lexicon table of ``(tenant_id, term)``, the candidates a misspelt query word
is corrected to; the correction follows OpenSearch's AUTO edit distance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from api.common.tenancy import current_tenant_id, platform_transaction
from api.search.text import allowed_edits, edit_distance

TRIGRAM_THRESHOLD = "0.2"
"""Low enough that one transposition in a six-letter word (similarity 0.27) stays a candidate."""
CANDIDATES_PER_WORD = 8
RANK_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"
"""ts_rank_cd weights of D, C (description), B (tags), A (name): the name is boosted."""


VersionT = TypeVar("VersionT")
SearchStatement = Callable[[list[list[str]], bool], tuple[str, list[Any]]]
"""Builds a read model's one search statement from word groups and whether to check the lexicon."""


def stored_instant(value: str) -> datetime:
    """A document's ISO 8601 instant as the aware timestamp stored; one without an offset is UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SqlParameters:
    """Placeholders for a statement under construction: values never enter the SQL text."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def text_query_sql(word_groups: list[list[str]], bind: SqlParameters) -> str:
    """A tsquery: every group must match, any word of a group may; a first word of three or
    more letters also matches as a prefix (a word being typed)."""
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


def lexicon_ctes(word_groups: list[list[str]], bind: SqlParameters, *, terms_table: str) -> str:
    """CTEs ``words``, ``fuzzy`` and ``gate`` over `terms_table`, after a ``scope`` CTE with the tenant.

    Which typed words are (the start of) a lexicon word, and candidates for the others.
    Candidates are looked up only for unknown words long enough to have a typo budget;
    ``gate`` is false when any of them has one, and the search waits for the correction.
    """
    words = [group[0] for group in word_groups]
    return (
        "words AS MATERIALIZED (SELECT typed.* FROM scope, LATERAL ("
        f" SELECT item.position, item.key, EXISTS (SELECT 1 FROM {terms_table} AS t"
        " WHERE t.tenant_id = scope.tenant_id AND t.term >= item.key"
        " AND t.term < item.key || chr(1114111)) AS known"
        " FROM (SELECT typed_word.position, search_key(typed_word.word) AS key"
        f" FROM unnest({bind(words)}::text[]) WITH ORDINALITY AS typed_word(word, position) OFFSET 0)"
        " AS item OFFSET 0) AS typed),"
        " fuzzy AS MATERIALIZED (SELECT w.position, w.key, ARRAY("
        f" SELECT t.term::text FROM {terms_table} AS t"
        " WHERE t.tenant_id = scope.tenant_id AND t.term % w.key"
        f" ORDER BY similarity(t.term, w.key) DESC, t.term LIMIT {CANDIDATES_PER_WORD}) AS candidates"
        " FROM scope, words AS w WHERE NOT w.known AND length(w.key) > 2),"
        " gate AS (SELECT NOT EXISTS (SELECT 1 FROM fuzzy WHERE cardinality(fuzzy.candidates) > 0)"
        " AS ready)"
    )


def corrected_groups(words: list[str], corrections: Sequence[tuple[int, str, list[str]]]) -> list[list[str]]:
    """Each query word with the lexicon words within its typo budget (OpenSearch's AUTO)."""
    groups = [[word] for word in words]
    for position, key, candidates in corrections:
        budget = allowed_edits(key)
        groups[position - 1].extend(
            candidate for candidate in candidates if edit_distance(key, candidate, limit=budget) <= budget
        )
    return groups


@asynccontextmanager
async def pooled_connection(engine: PostgresEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection with no transaction (a one-statement search scopes itself): from the pool
    when it is open, else a connection of its own."""
    pool = engine.pool
    if pool is None:
        connection = await engine.get_new_connection()
        try:
            yield connection
        finally:
            await connection.close()
        return
    async with pool.acquire() as connection:
        yield connection


class TableReadModel(Generic[VersionT]):
    """What an embedded read model's engine shares: its table, the check that migrations created
    it, and the versions reconciliation compares."""

    engine: PostgresEngine
    table: ClassVar[str]
    id_column: ClassVar[str]
    version_type: Callable[[str, str, int, bool], VersionT]
    """Builds a version from (tenant_id, id, version, deleted)."""

    async def ensure_indices(self) -> list[str]:
        """The schema belongs to migrations; this only confirms they ran."""
        return await confirm_table(self.engine, self.table)

    async def versions(
        self,
        after: tuple[str, str] | None,
        through: tuple[str, str] | None,
        limit: int | None = None,
        *,
        tenant_ids: Sequence[str] = (),
    ) -> list[VersionT]:
        return await read_versions(
            self.engine,
            self.version_type,
            table=self.table,
            id_column=self.id_column,
            after=after,
            through=through,
            limit=limit,
            tenant_ids=tenant_ids,
        )


async def confirm_table(engine: PostgresEngine, table: str) -> list[str]:
    """The schema belongs to migrations; this only confirms they ran (creates nothing)."""
    async with platform_transaction(engine) as transaction:
        await transaction.connection.fetchval(f"SELECT count(*) FROM {table} WHERE FALSE")
    return []


def scope_columns(bind: SqlParameters, tenant_id: str, *, check_lexicon: bool) -> list[str]:
    """The ``scope`` CTE's first columns: the tenant, set for the statement's own transaction (so
    row-level security applies to every read), and the trigram threshold of the lexicon check."""
    scope = [f"set_config('app.tenant_id', {bind(tenant_id)}::text, true)::uuid AS tenant_id"]
    if check_lexicon:  # for the % operator of the correction candidates
        scope.append(f"set_config('pg_trgm.similarity_threshold', '{TRIGRAM_THRESHOLD}', true) AS threshold")
    return scope


def page_cte(order: list[str], bind: SqlParameters, *, limit: int, offset: int) -> str:
    """The ``page`` CTE: the sort keys of one page of ``matched``."""
    keys = ", ".join(dict.fromkeys(item.split()[0] for item in order))
    return (
        f"page AS MATERIALIZED (SELECT {keys} FROM matched ORDER BY {', '.join(order)}"
        f" LIMIT {bind(limit)} OFFSET {bind(offset)})"
    )


def score_sql(sort: str, *, has_text: bool) -> str:
    """A page row's score: kept from ``matched`` when sorted by it, else computed for the page only."""
    if sort == "relevance":
        return "page.score"
    if has_text:
        return f"ts_rank_cd('{RANK_WEIGHTS}', h.search_vector, q.query)"
    return "NULL::real"


def page_rows_sql(row: str, *, table: str, id_column: str, order: list[str], has_text: bool) -> str:
    """The page's rows read in full, each as `row` (over ``h``), in the page's order."""
    return (
        f"ARRAY(SELECT ROW({row})"
        f" FROM {'page, q' if has_text else 'page'}, scope, LATERAL ("
        f" SELECT d.* FROM {table} AS d WHERE d.tenant_id = scope.tenant_id"
        f" AND d.{id_column} = page.{id_column}"
        f" OFFSET 0) AS h ORDER BY {', '.join(f'page.{item}' for item in order)})"
    )


def corrections_sql(*, check_lexicon: bool) -> str:
    """The correction candidates when the lexicon check held the search back, else NULL."""
    if not check_lexicon:
        return "NULL::record[]"
    return (
        "CASE WHEN NOT (SELECT ready FROM gate) THEN"
        " ARRAY(SELECT ROW(f.position, f.key, f.candidates) FROM fuzzy AS f ORDER BY f.position) END"
    )


async def corrected_search(
    engine: PostgresEngine, tenant_id: str, words: list[str], statement: SearchStatement
) -> asyncpg.Record | None:
    """Run a one-statement search; a second statement follows only when a word must be corrected.

    The first statement checks the query words against the tenant's lexicon and, when every
    word is known (or has nothing to be corrected to), already answers. Otherwise it answers
    only the correction candidates, which are filtered here by edit distance, and the corrected
    search follows.
    """
    token = current_tenant_id.set(UUID(tenant_id))
    try:
        async with pooled_connection(engine) as connection:
            sql, args = statement([[word] for word in words], bool(words))
            row: asyncpg.Record | None = await connection.fetchrow(sql, *args)
            if row is not None and row["corrections"] is not None:
                sql, args = statement(corrected_groups(words, row["corrections"]), False)
                row = await connection.fetchrow(sql, *args)
    finally:
        current_tenant_id.reset(token)
    return row


async def read_versions(
    engine: PostgresEngine,
    make: Callable[[str, str, int, bool], VersionT],
    *,
    table: str,
    id_column: str,
    after: tuple[str, str] | None,
    through: tuple[str, str] | None,
    limit: int | None,
    tenant_ids: Sequence[str],
) -> list[VersionT]:
    """The read model's (tenant, id, version, deleted) with after < key <= through, in key order,
    across tenants (a platform scope), for reconciliation."""
    bind = SqlParameters()
    clauses = ["TRUE"]
    if tenant_ids:
        clauses.append(f"tenant_id = ANY({bind(list(tenant_ids))}::uuid[])")
    if after is not None:
        clauses.append(f"(tenant_id, {id_column}) > ({bind(after[0])}::uuid, {bind(after[1])}::uuid)")
    if through is not None:
        clauses.append(f"(tenant_id, {id_column}) <= ({bind(through[0])}::uuid, {bind(through[1])}::uuid)")
    limit_sql = f" LIMIT {bind(limit)}" if limit is not None else ""
    async with platform_transaction(engine) as transaction:
        rows = await transaction.connection.fetch(
            f"SELECT tenant_id, {id_column}, version, deleted FROM {table}"
            f" WHERE {' AND '.join(clauses)} ORDER BY tenant_id, {id_column}{limit_sql}",
            *bind.args,
        )
    return [
        make(str(row["tenant_id"]), str(row[id_column]), int(row["version"]), bool(row["deleted"]))
        for row in rows
    ]
