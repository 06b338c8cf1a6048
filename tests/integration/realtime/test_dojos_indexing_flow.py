"""Realtime's side of the indexing contract, end to end: the dojo API writes, `DojoIndexingGateway`
starts DojoIndexing on the session's real Temporal server, a real worker runs it with realtime's
real read and search's real write, and the search engine finds the dojo, then no longer finds it
as an outsider once it turns private."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from litestar import Litestar
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dojo_search import DojoSearchActivities, RealtimeDojoActivities
from api.common.settings import Settings
from api.search.dojo_engine import DojoQuery
from api.search.postgres_engine import PostgresSearchEngine
from realtime.app import create_app
from realtime.dojos.indexing import DojoIndexingGateway
from temporal.client import connect_client
from temporal.interceptors import TenantContextInterceptor
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.realtime.dojos_support import (
    DojoClient,
    TokenMint,
    _lifespan,
    create_dojo,
)
from tests.integration.search.support import migrated
from workflows.dojo_indexing import DojoIndexing

pytestmark = pytest.mark.integration


@asynccontextmanager
async def indexing_worker(
    settings: Settings, temporal: Client
) -> AsyncIterator[tuple[str, PostgresSearchEngine]]:
    task_queue = f"dojo-flow-test-{uuid.uuid4().hex[:8]}"
    engine = PostgresSearchEngine.from_settings(await migrated(settings))
    await engine.start()
    search = DojoSearchActivities(engine, temporal_client=temporal, owns_engine=False)
    try:
        async with RealtimeDojoActivities.from_settings(settings) as realtime:
            worker = Worker(
                temporal,
                task_queue=task_queue,
                workflows=[DojoIndexing],
                activities=[*realtime.activities(), *search.activities()],
                interceptors=[TenantContextInterceptor()],
                workflow_runner=WORKFLOW_SANDBOX,
            )
            async with worker:
                yield task_queue, engine
    finally:
        await engine.close()


async def names_seen(engine: PostgresSearchEngine, tenant: uuid.UUID, viewer: uuid.UUID) -> list[str]:
    result = await engine.dojos.search(
        DojoQuery(tenant_id=str(tenant), viewer_id=str(viewer), text="mutirão")
    )
    return [hit.name for hit in result.hits]


async def eventually(
    engine: PostgresSearchEngine, tenant: uuid.UUID, viewer: uuid.UUID, expected: list[str]
) -> None:
    """Polls the read model: the workflow runs on its own, nothing signals the test."""
    async with asyncio.timeout(30):
        while True:
            if await names_seen(engine, tenant, viewer) == expected:
                return
            await asyncio.sleep(0.1)


async def test_a_dojo_written_through_the_api_is_found_by_search_and_follows_its_changes(
    settings: Settings, mint: TokenMint
) -> None:
    temporal = await connect_client(settings, wait_seconds=30)
    async with indexing_worker(settings, temporal) as (task_queue, engine):

        async def client() -> Client:
            return temporal

        app: Litestar = create_app(
            settings, key_set=mint.key_set, dojo_changes=DojoIndexingGateway(client, task_queue=task_queue)
        )
        async with _lifespan(app), DojoClient(app) as api:
            host = mint.caller()
            colleague = mint.caller(host.tenant_id)
            dojo = await create_dojo(api, host, name="Mutirão de testes", isPrivate=False)
            await eventually(engine, host.tenant_id, colleague.user_id, ["Mutirão de testes"])

            response = await api.patch(
                f"/v1/dojos/{dojo['dojoId']}", json={"isPrivate": True}, headers=host.headers
            )
            assert response.status_code == 200, response.text
            await eventually(engine, host.tenant_id, colleague.user_id, [])
            assert await names_seen(engine, host.tenant_id, host.user_id) == ["Mutirão de testes"]

            stranger = mint.caller()
            assert await names_seen(engine, stranger.tenant_id, stranger.user_id) == []
