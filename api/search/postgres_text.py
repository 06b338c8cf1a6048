# ruff: noqa: S608 - statements join constant SQL and numbered placeholders; values are always bound
"""SQL pieces both embedded read models (POCs and dojos) build their one-statement searches from.

The database's IMMUTABLE functions (``search_key``, ``search_word_query``, ``search_tsquery_and``,
``search_tsquery_or``; see the first search migration) fold text the same way for both. Each read
model keeps its own lexicon table of ``(tenant_id, term)``, the candidates a misspelt query word
is corrected to; the correction follows OpenSearch's AUTO edit distance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from api.search.text import allowed_edits, edit_distance

TRIGRAM_THRESHOLD = "0.2"
"""Low enough that one transposition in a six-letter word (similarity 0.27) stays a candidate."""
CANDIDATES_PER_WORD = 8
RANK_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"
"""ts_rank_cd weights of D, C (description), B (tags), A (name): the name is boosted."""


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
