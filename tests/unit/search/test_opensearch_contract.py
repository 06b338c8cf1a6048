"""The OpenSearch adapter against its request/response contract, with no server.

Every test replays one fixture of ``fixtures/opensearch/``: the real opensearch-py client sends
its requests to a stand-in transport that compares them with the recorded ones and answers with
recorded responses (see `opensearch_standin`). What is asserted here is what the adapter makes of
those answers. Behaviour against a live server is in tests/integration/search/ (OPENSEARCH_URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from api.search.engine import HIGHLIGHT_END, HIGHLIGHT_START, SearchQuery, SuggestionQuery
from api.search.opensearch_engine import INDEX_MAPPINGS, OpenSearchEngine
from tests.unit.search.opensearch_standin import RecordedExchanges, standin_client
from workflows.poc_indexing_types import PocDocument, PocVersion
from workflows.search_index_types import ReindexTarget

pytestmark = pytest.mark.unit

TENANT = "0b7e4a8e-1c1f-4c55-9a57-3f2a8d6c1001"
USER = "5f0c2c1e-8c3a-4f0e-a1b2-3c4d5e6f7001"
POC_1 = "9a1f0d3e-7b2c-4e6a-8f10-112233445501"
POC_2 = "9a1f0d3e-7b2c-4e6a-8f10-112233445502"
NOW = "2026-11-27T10:00:00+00:00"

Replay = Callable[[str], OpenSearchEngine]


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    recordings: list[RecordedExchanges] = []
    engines: list[OpenSearchEngine] = []

    def start(name: str) -> OpenSearchEngine:
        exchanges = RecordedExchanges(name)
        recordings.append(exchanges)
        engine = OpenSearchEngine(standin_client(exchanges), clock=lambda: NOW)
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.close()
    for exchanges in recordings:
        exchanges.finish()


def document(version: int = 3) -> PocDocument:
    return PocDocument(
        poc_id=POC_1,
        tenant_id=TENANT,
        user_id=USER,
        name="Curso de Programação em Python",
        description="Aprenda programação com exemplos",
        repository_url="https://git.example/curso",
        language="Python",
        is_public=True,
        created_at="2022-03-10T12:00:00+00:00",
        updated_at="2024-01-01T08:00:00+00:00",
        version=version,
        tags=["educação", "python"],
        frameworks=["django"],
    )


async def test_indices_are_created_once_with_the_seed_mapping_and_the_write_alias(replay: Replay) -> None:
    engine = replay("ensure_indices")
    assert await engine.ensure_indices() == ["mrbill-pocs-v1", "mrbill-pocs"]
    body = engine.index_body()
    assert body["mappings"]["properties"]["name"]["fields"]["sayt"]["type"] == "search_as_you_type"
    assert body["settings"]["analysis"]["analyzer"]["code_analyzer"]["filter"][-1] == "code_filter"
    seed_fields = {"poc_id", "user_id", "tenant_id", "name", "description", "language", "tags", "frameworks"}
    assert seed_fields | {"is_public", "repository_url", "created_at", "updated_at", "code_snippets"} <= set(
        INDEX_MAPPINGS["properties"]
    )


async def test_a_tenant_alias_filters_and_routes_by_tenant(replay: Replay) -> None:
    engine = replay("create_tenant_alias")
    await engine.create_tenant_index(TENANT)


async def test_upsert_uses_external_versions(replay: Replay) -> None:
    assert await replay("upsert_document").upsert(document(3))


async def test_an_older_version_is_refused_by_the_server_and_reported_as_not_stored(replay: Replay) -> None:
    assert not await replay("upsert_older_version").upsert(document(2))


async def test_delete_writes_a_tombstone_at_the_deleting_version(replay: Replay) -> None:
    assert await replay("delete_as_tombstone").delete(TENANT, POC_1, 4)


async def test_search_sends_every_filter_and_parses_hits_facets_and_highlights(replay: Replay) -> None:
    engine = replay("search_pocs")
    result = await engine.search(
        SearchQuery(
            tenant_id=TENANT,
            viewer_id=USER,
            text="programacao pyhton",
            languages=("Python",),
            tags=("Educação", "python"),
            tags_mode="all",
            frameworks=("django", "flask"),
            frameworks_mode="any",
            owner_id=USER,
            is_public=True,
            created_from=datetime(2022, 1, 1, tzinfo=UTC),
            created_to=datetime(2023, 1, 1, tzinfo=UTC),
            sort="relevance",
            offset=20,
            limit=10,
        )
    )
    assert result.total == 2
    first, second = result.hits
    assert (first.poc_id, first.name, first.version, first.score) == (
        POC_1,
        "Curso de Programação em Python",
        3,
        4.2,
    )
    assert first.created_at == datetime(2022, 3, 10, 12, tzinfo=UTC)
    assert first.highlights["name"] == [f"Curso de {HIGHLIGHT_START}Programação{HIGHLIGHT_END} em Python"]
    assert (second.description, second.language, second.tags, second.is_public) == (None, None, [], False)
    assert [(bucket.value, bucket.count) for bucket in result.facets.tags] == [("educação", 1), ("python", 1)]
    assert [(bucket.value, bucket.count) for bucket in result.facets.frameworks] == [("django", 1)]


async def test_a_tenant_without_its_alias_is_searched_through_the_shared_alias(replay: Replay) -> None:
    engine = replay("search_without_tenant_alias")
    result = await engine.search(SearchQuery(tenant_id=TENANT, viewer_id=USER, sort="newest"))
    assert result.total == 0
    assert result.hits == []


async def test_name_suggestions(replay: Replay) -> None:
    engine = replay("suggest_names")
    names = await engine.suggest(SuggestionQuery(tenant_id=TENANT, viewer_id=USER, prefix="pyth", kind="poc"))
    assert names == ["Python data pipeline", "Curso de Programação em Python"]


async def test_tag_suggestions_keep_only_tags_with_the_folded_prefix(replay: Replay) -> None:
    engine = replay("suggest_tags")
    tags = await engine.suggest(
        SuggestionQuery(tenant_id=TENANT, viewer_id=USER, prefix="Aná", kind="tag", limit=5)
    )
    assert tags == ["análise", "analytics"]


async def test_versions_of_a_key_range(replay: Replay) -> None:
    engine = replay("versions_range")
    versions = await engine.versions(
        (TENANT, "00000000-0000-0000-0000-000000000000"), (TENANT, POC_2), limit=10
    )
    assert versions == [
        PocVersion(tenant_id=TENANT, poc_id=POC_1, version=3, deleted=False),
        PocVersion(tenant_id=TENANT, poc_id=POC_2, version=7, deleted=True),
    ]


async def test_reindex_of_every_tenant_swaps_aliases_atomically_and_catches_up(replay: Replay) -> None:
    engine = replay("reindex_all")
    target = await engine.begin_reindex(None, "2026-11-27T09:59:55+00:00")
    assert target == ReindexTarget(
        tenant_id=None,
        source="mrbill-pocs-v1",
        target="mrbill-pocs-v2",
        started_at="2026-11-27T09:59:55+00:00",
        total=2,
    )
    batch = await engine.reindex_batch(target, None, 1000)
    assert (batch.copied, batch.done, batch.last_poc_id) == (2, True, POC_2)
    notes = await engine.finish_reindex(target)
    assert notes == [
        "moved 2 aliases from mrbill-pocs-v1 to mrbill-pocs-v2",
        "copied 1 documents written during the copy",
        "deleted mrbill-pocs-v1",
    ]


async def test_dropping_a_tenant_removes_its_documents_and_alias(replay: Replay) -> None:
    assert await replay("drop_tenant").drop_tenant_index(TENANT) == 3
