"""The behaviour both engines must share, through SearchService (which scopes every query).

Runs on the embedded engine always, as the application role (row-level security on), and on
OpenSearch whenever OPENSEARCH_URL is set.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.common.auth import TokenClaims
from api.common.errors import BadRequestError
from api.common.pagination import PageParams
from api.search.engine import HIGHLIGHT_END, HIGHLIGHT_START, SearchEngine, SearchResult
from api.search.service import SearchCriteria, SearchService
from tests.integration.search.support import Corpus

pytestmark = [pytest.mark.integration]


def claims_for(tenant_id: str, user_id: str, *roles: str) -> TokenClaims:
    now = datetime.now(UTC)
    return TokenClaims(
        user_id=uuid.UUID(user_id),
        tenant_id=uuid.UUID(tenant_id),
        roles=roles or ("MEMBER",),
        jti=uuid.uuid4().hex,
        expires_at=now + timedelta(minutes=15),
        issued_at=now,
    )


async def search_as(
    engine: SearchEngine,
    tenant: str,
    user: str,
    criteria: SearchCriteria | None = None,
    page: int = 1,
    page_size: int = 20,
) -> SearchResult:
    service = SearchService(engine)
    return await service.search_pocs(
        claims_for(tenant, user), criteria or SearchCriteria(), PageParams(page=page, page_size=page_size)
    )


async def keys_for(
    engine: SearchEngine, corpus: Corpus, criteria: SearchCriteria, user: str | None = None
) -> set[str]:
    result = await search_as(engine, corpus.tenant_a, user or corpus.alice, criteria)
    return set(corpus.keys([hit.poc_id for hit in result.hits]))


# -- free text -------------------------------------------------------------------------------


async def test_misspelt_word_finds_the_pocs_it_meant(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="pyhton")) == {"course", "pipeline", "analysis"}
    assert await keys_for(engine, corpus, SearchCriteria(text="dashbord")) == {"dashboard"}


async def test_a_word_with_no_lexicon_word_near_enough_is_searched_as_typed(
    engine: SearchEngine, corpus: Corpus
) -> None:
    # "dashboard" shares trigrams with it but is four edits away, beyond the budget of two.
    assert await keys_for(engine, corpus, SearchCriteria(text="dashbxyz")) == set()
    assert await keys_for(engine, corpus, SearchCriteria(text="dashbxyz react")) == set()


async def test_accents_are_ignored_both_ways(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="programacao")) == {"course"}
    assert await keys_for(engine, corpus, SearchCriteria(text="ANÁLISE de dados")) == {"analysis"}
    assert await keys_for(engine, corpus, SearchCriteria(text="analise")) == {"analysis"}


async def test_every_word_must_match_somewhere(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="react dashboard")) == {"dashboard"}
    assert await keys_for(engine, corpus, SearchCriteria(text="react pandas")) == set()


async def test_a_prefix_finds_words_being_typed(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="microserv")) == {"service"}


async def test_name_matches_rank_above_description_matches(engine: SearchEngine, corpus: Corpus) -> None:
    result = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(text="python"))
    ranked = corpus.keys([hit.poc_id for hit in result.hits])
    assert set(ranked[:2]) == {"course", "pipeline"}
    assert ranked[-1] == "analysis"


async def test_matches_are_highlighted_in_the_text_as_written(engine: SearchEngine, corpus: Corpus) -> None:
    result = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(text="programacao"))
    (hit,) = result.hits
    assert f"{HIGHLIGHT_START}Programação{HIGHLIGHT_END}" in hit.highlights["name"][0]
    assert any(
        f"{HIGHLIGHT_START}programação{HIGHLIGHT_END}" in fragment
        for fragment in hit.highlights["description"]
    )


async def test_only_fields_that_match_are_highlighted(engine: SearchEngine, corpus: Corpus) -> None:
    result = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(text="pandas"))
    (hit,) = result.hits
    assert corpus.key_of(hit.poc_id) == "analysis"
    assert f"{HIGHLIGHT_START}Pandas{HIGHLIGHT_END}" in hit.highlights["name"][0]
    assert "description" not in hit.highlights  # "Exploração de dados em Python com gráficos"


# -- filters ---------------------------------------------------------------------------------


async def test_language_filter_ignores_case(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(languages=("python",))) == {
        "course",
        "pipeline",
        "analysis",
    }
    assert await keys_for(engine, corpus, SearchCriteria(languages=("Go", "TypeScript"))) == {
        "service",
        "dashboard",
    }


async def test_tag_filter_all_and_any(engine: SearchEngine, corpus: Corpus) -> None:
    both = SearchCriteria(tags=("python", "data"), tags_mode="all")
    either = SearchCriteria(tags=("python", "data"), tags_mode="any")
    assert await keys_for(engine, corpus, both) == {"pipeline"}
    assert await keys_for(engine, corpus, either) == {"course", "pipeline", "analysis"}
    assert await keys_for(engine, corpus, SearchCriteria(tags=("Analise",))) == {"analysis"}


async def test_framework_filter_all_and_any(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(frameworks=("pandas",))) == {"pipeline", "analysis"}
    either = SearchCriteria(frameworks=("react", "pandas"), frameworks_mode="any")
    assert await keys_for(engine, corpus, either) == {"dashboard", "pipeline", "analysis"}
    assert await keys_for(engine, corpus, SearchCriteria(frameworks=("react", "pandas"))) == set()


async def test_owner_filter_me_and_another_user(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(owner="me")) == {"course", "dashboard", "service"}
    # bob's private engine stays hidden from alice even when she filters by bob.
    assert await keys_for(engine, corpus, SearchCriteria(owner=corpus.bob)) == {"pipeline", "analysis"}


async def test_public_filter(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(is_public=False)) == {"service"}


async def test_date_range_is_inclusive_of_whole_days(engine: SearchEngine, corpus: Corpus) -> None:
    year_2023 = SearchCriteria(created_from="2023-01-01", created_to="2023-12-31")
    assert await keys_for(engine, corpus, year_2023) == {"dashboard", "analysis"}
    until_day = SearchCriteria(created_to="2022-03-10")
    assert await keys_for(engine, corpus, until_day) == {"course", "service"}


# -- order, pages, facets ------------------------------------------------------------------------


async def test_sort_newest_and_by_name(engine: SearchEngine, corpus: Corpus) -> None:
    newest = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(sort="newest"))
    assert corpus.keys([hit.poc_id for hit in newest.hits]) == [
        "pipeline",
        "analysis",
        "dashboard",
        "course",
        "service",
    ]
    by_name = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(sort="name"))
    assert [hit.name for hit in by_name.hits] == [
        "Análise de dados com Pandas",
        "Curso de Programação em Python",
        "Go microservice",
        "Python data pipeline",
        "React Dashboard",
    ]


async def test_pages_split_the_same_order(engine: SearchEngine, corpus: Corpus) -> None:
    pages = [
        await search_as(
            engine, corpus.tenant_a, corpus.alice, SearchCriteria(sort="newest"), page=page, page_size=2
        )
        for page in (1, 2, 3, 4)
    ]
    assert [corpus.keys([hit.poc_id for hit in page.hits]) for page in pages] == [
        ["pipeline", "analysis"],
        ["dashboard", "course"],
        ["service"],
        [],
    ]
    assert {page.total for page in pages} == {5}


async def test_facets_count_every_match_not_just_the_page(engine: SearchEngine, corpus: Corpus) -> None:
    result = await search_as(engine, corpus.tenant_a, corpus.alice, page_size=1)
    languages = {bucket.value: bucket.count for bucket in result.facets.languages}
    tags = {bucket.value: bucket.count for bucket in result.facets.tags}
    frameworks = {bucket.value: bucket.count for bucket in result.facets.frameworks}
    assert languages == {"Python": 3, "TypeScript": 1, "Go": 1}
    assert tags["python"] == 2
    assert tags["backend"] == 2
    assert tags["data"] == 2
    assert "systems" not in tags  # only on bob's private POC
    assert frameworks["pandas"] == 2
    assert result.facets.languages[0].value == "Python"


async def test_facets_follow_the_filters(engine: SearchEngine, corpus: Corpus) -> None:
    result = await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(tags=("data",)))
    assert {bucket.value: bucket.count for bucket in result.facets.languages} == {"Python": 2}


# -- tenant isolation and visibility ----------------------------------------------------------------


async def test_another_tenants_pocs_never_appear(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="sauce")) == set()
    result = await search_as(engine, corpus.tenant_b, corpus.carol, SearchCriteria(text="python"))
    assert corpus.keys([hit.poc_id for hit in result.hits]) == ["sauce"]


async def test_a_user_from_another_tenant_sees_nothing_of_tenant_a_even_with_a_known_owner(
    engine: SearchEngine, corpus: Corpus
) -> None:
    result = await search_as(engine, corpus.tenant_b, corpus.carol, SearchCriteria(owner=corpus.alice))
    assert result.hits == []
    assert result.total == 0


async def test_private_pocs_are_seen_by_their_owner_only(engine: SearchEngine, corpus: Corpus) -> None:
    assert await keys_for(engine, corpus, SearchCriteria(text="engine")) == {"service"}
    assert await keys_for(engine, corpus, SearchCriteria(text="engine"), user=corpus.bob) == {"engine"}
    assert "engine" not in await keys_for(engine, corpus, SearchCriteria())


async def test_suggestions_complete_names_and_tags_the_caller_can_see(
    engine: SearchEngine, corpus: Corpus
) -> None:
    service = SearchService(engine)
    alice = claims_for(corpus.tenant_a, corpus.alice)
    names = await service.suggestions(alice, "pyth", "poc", 10)
    assert names[0] == "Python data pipeline"
    assert set(names) <= {"Python data pipeline", "Curso de Programação em Python"}
    assert await service.suggestions(alice, "secr", "poc", 10) == []
    assert await service.suggestions(alice, "anal", "tag", 10) == ["análise"]
    assert await service.suggestions(alice, "sys", "tag", 10) == []


async def test_invalid_criteria_are_refused(engine: SearchEngine, corpus: Corpus) -> None:
    with pytest.raises(BadRequestError):
        await search_as(engine, corpus.tenant_a, corpus.alice, SearchCriteria(owner="not-a-user"))
    with pytest.raises(BadRequestError):
        await search_as(
            engine,
            corpus.tenant_a,
            corpus.alice,
            SearchCriteria(created_from="2024-01-02", created_to="2024-01-01"),
        )


# -- writes ------------------------------------------------------------------------------------


async def test_an_older_version_never_overwrites_a_newer_one(engine: SearchEngine, corpus: Corpus) -> None:
    original = corpus.documents["dashboard"]
    tenant, poc = original.tenant_id, str(uuid.uuid4())
    first = dataclasses.replace(original, poc_id=poc, name="Kanban board", version=1)
    second = dataclasses.replace(first, name="Kanban planner", version=2)
    assert await engine.upsert(second)
    assert not await engine.upsert(first)
    assert not await engine.upsert(second)
    assert await keys_for_name(engine, tenant, corpus.alice, "kanban") == ["Kanban planner"]
    stored = {(item.tenant_id, item.poc_id): item.version for item in await engine.versions(None, None)}
    assert stored[(tenant, poc)] == 2


async def test_a_delete_removes_the_poc_and_no_late_update_brings_it_back(
    engine: SearchEngine, corpus: Corpus
) -> None:
    original = corpus.documents["dashboard"]
    poc = str(uuid.uuid4())
    live = dataclasses.replace(original, poc_id=poc, name="Temporary widget", version=3)
    assert await engine.upsert(live)
    assert await keys_for_name(engine, live.tenant_id, corpus.alice, "widget") == ["Temporary widget"]
    assert await engine.delete(live.tenant_id, poc, 4)
    assert await keys_for_name(engine, live.tenant_id, corpus.alice, "widget") == []
    late = dataclasses.replace(live, version=3, name="Temporary widget again")
    assert not await engine.upsert(late)
    assert await keys_for_name(engine, live.tenant_id, corpus.alice, "widget") == []
    assert not await engine.delete(live.tenant_id, poc, 4)


async def keys_for_name(engine: SearchEngine, tenant: str, user: str, text: str) -> list[str]:
    result = await search_as(engine, tenant, user, SearchCriteria(text=text))
    return [hit.name for hit in result.hits]
