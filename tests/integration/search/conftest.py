"""Search's integration tests run over the session's real PostgreSQL (and OpenSearch when set)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.common.settings import Settings
from api.search.engine import SearchEngine
from tests.integration.search.support import ENGINES, Corpus, build_corpus, migrated, running_engine


@pytest.fixture(scope="session")
async def search_settings(stack_settings: Settings) -> Settings:
    return await migrated(stack_settings)


@pytest.fixture(scope="module", params=ENGINES)
async def engine(request: pytest.FixtureRequest, search_settings: Settings) -> AsyncIterator[SearchEngine]:
    async with running_engine(request.param, search_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def corpus(engine: SearchEngine) -> Corpus:
    built = build_corpus()
    for tenant in (built.tenant_a, built.tenant_b):
        await engine.create_tenant_index(tenant)
    for document in built.documents.values():
        assert await engine.upsert(document)
    return built
