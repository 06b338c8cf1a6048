"""The embedded engine's one-statement search is scoped by row-level security, and leaves nothing.

A search sets the tenant inside its own statement and reads every table in a LATERAL subquery
that depends on it. These tests run that statement as the application role with every explicit
tenant predicate removed, so only the forced policy can keep another tenant's rows out.
"""

from __future__ import annotations

import re

import pytest

from api.search.engine import SearchEngine, SearchQuery
from api.search.postgres_engine import PostgresSearchEngine
from api.search.text import query_words
from tests.integration.search.support import Corpus

pytestmark = [pytest.mark.integration, pytest.mark.security]

EXPLICIT_TENANT = re.compile(r"\b(?:d|t)\.tenant_id = scope\.tenant_id\b")


def postgres_only(engine: SearchEngine) -> PostgresSearchEngine:
    if not isinstance(engine, PostgresSearchEngine):
        pytest.skip("the one-statement scope belongs to the embedded engine")
    return engine


def unscoped_sql(engine: PostgresSearchEngine, query: SearchQuery) -> tuple[str, list[object]]:
    words = query_words(query.text)
    sql, args = engine._search_sql(query, [[word] for word in words], check_lexicon=bool(words))
    unscoped = EXPLICIT_TENANT.sub("TRUE", sql)
    assert unscoped != sql
    return unscoped, args


async def test_row_level_security_alone_keeps_other_tenants_out(engine: SearchEngine, corpus: Corpus) -> None:
    postgres = postgres_only(engine)
    # Both tenants have public Python POCs and the word "python" in their lexicons.
    as_alice = SearchQuery(tenant_id=corpus.tenant_a, viewer_id=corpus.alice, text="python")
    as_carol = SearchQuery(tenant_id=corpus.tenant_b, viewer_id=corpus.carol, text="python")
    assert postgres.engine.pool is not None
    async with postgres.engine.pool.acquire() as connection:
        assert await connection.fetchval("SELECT current_user") == "search_app"
        seen_by_a = await connection.fetchrow(*_flat(unscoped_sql(postgres, as_alice)))
        seen_by_b = await connection.fetchrow(*_flat(unscoped_sql(postgres, as_carol)))
        left_over = await connection.fetchval("SELECT current_setting('app.tenant_id', true)")
        visible_now = await connection.fetchval("SELECT count(*) FROM search_documents")

    assert seen_by_a is not None
    assert seen_by_b is not None
    assert {str(hit[0]) for hit in seen_by_a["hits"]} == {
        corpus.documents[key].poc_id for key in ("course", "pipeline", "analysis")
    }
    assert [str(hit[0]) for hit in seen_by_b["hits"]] == [corpus.documents["sauce"].poc_id]
    assert (seen_by_a["total"], seen_by_b["total"]) == (3, 1)
    assert "t:python" in seen_by_b["facet_values"]
    assert seen_by_b["facet_counts"][seen_by_b["facet_values"].index("l:Python")] == 1
    # The tenant lasted as long as each statement: the pooled connection is back to seeing nothing.
    assert left_over in (None, "")
    assert visible_now == 0


async def test_a_search_leaves_the_pooled_connection_without_a_tenant(
    engine: SearchEngine, corpus: Corpus
) -> None:
    postgres = postgres_only(engine)
    single = PostgresSearchEngine(postgres.dsn, pool_min=1, pool_max=1)
    await single.start()
    try:
        # "pyhton" is unknown to the lexicon: the correction takes a second statement.
        for text in ("python", "pyhton", None):
            query = SearchQuery(tenant_id=corpus.tenant_a, viewer_id=corpus.bob, text=text)
            assert (await single.search(query)).total > 0
        assert single.engine.pool is not None
        async with single.engine.pool.acquire() as connection:
            assert await connection.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
            assert await connection.fetchval("SELECT count(*) FROM search_documents") == 0
            assert not connection.is_in_transaction()
    finally:
        await single.close()


def _flat(statement: tuple[str, list[object]]) -> tuple[object, ...]:
    sql, args = statement
    return (sql, *args)
