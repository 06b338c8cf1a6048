"""PocIndexing on the time-skipping server: real search activities on the real PostgreSQL engine,
stand-ins (named so) for catalog's activities, which the catalog team is writing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.search import SearchActivities, start_poc_indexing
from api.common.settings import Settings
from api.search.engine import SearchQuery
from api.search.postgres_engine import PostgresSearchEngine
from temporal.converter import data_converter
from temporal.interceptors import TenantContextInterceptor
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.search.catalog_standin import StandInCatalogActivities
from tests.integration.search.support import migrated
from workflows.poc_indexing import INDEXING_RETRY, PocIndexing, PocIndexReconciliation
from workflows.poc_indexing_types import PocDocument, PocIndexingState, PocIndexRequest, poc_index_workflow_id
from workflows.search_reindex import SearchReindex

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
async def search_engine(stack_settings: Settings) -> AsyncIterator[PostgresSearchEngine]:
    engine = PostgresSearchEngine.from_settings(await migrated(stack_settings))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


@asynccontextmanager
async def indexing_worker(
    env: WorkflowEnvironment, engine: PostgresSearchEngine, catalog: StandInCatalogActivities
) -> AsyncIterator[str]:
    """The indexing queue's workflows, search's real activities and catalog's stand-ins."""
    task_queue = f"indexing-test-{uuid.uuid4()}"
    search = SearchActivities(engine, temporal_client=env.client, owns_engine=False)
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[PocIndexing, PocIndexReconciliation, SearchReindex],
        activities=[*catalog.activities(), *search.activities()],
        interceptors=[TenantContextInterceptor()],
        workflow_runner=WORKFLOW_SANDBOX,
    )
    async with worker:
        yield task_queue


def new_document(version: int = 1, **changes: object) -> PocDocument:
    now = datetime.now(UTC).isoformat()
    document = PocDocument(
        poc_id=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        user_id=str(uuid.uuid4()),
        name="Indexing sample",
        description="A POC that travels through the indexing workflow",
        repository_url="https://git.example/sample",
        language="Python",
        is_public=True,
        created_at=now,
        updated_at=now,
        version=version,
        tags=["workflow"],
        frameworks=["temporal"],
    )
    return dataclasses.replace(document, **changes)  # type: ignore[arg-type]


def request_for(document: PocDocument, version: int | None = None) -> PocIndexRequest:
    return PocIndexRequest(
        tenant_id=document.tenant_id,
        poc_id=document.poc_id,
        version=document.version if version is None else version,
    )


async def indexed_version(engine: PostgresSearchEngine, document: PocDocument) -> int | None:
    versions = await engine.versions(None, None, tenant_ids=[document.tenant_id])
    return next((item.version for item in versions if item.poc_id == document.poc_id), None)


async def names_found(engine: PostgresSearchEngine, document: PocDocument, text: str) -> list[str]:
    result = await engine.search(
        SearchQuery(tenant_id=document.tenant_id, viewer_id=document.user_id, text=text)
    )
    return [hit.name for hit in result.hits]


async def finished(env: WorkflowEnvironment, document: PocDocument) -> PocIndexingState:
    handle = env.client.get_workflow_handle(
        poc_index_workflow_id(document.tenant_id, document.poc_id), result_type=PocIndexingState
    )
    state: PocIndexingState = await handle.result()
    return state


async def test_a_write_becomes_searchable(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities()
    document = new_document(name="Temporal indexing demo")
    catalog.put(document)
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(document), task_queue=queue)
        state = await finished(time_skipping_env, document)
    assert (state.requested_version, state.indexed_version, state.passes) == (1, 1, 1)
    assert await names_found(search_engine, document, "temporal demo") == ["Temporal indexing demo"]


async def test_versions_requested_while_indexing_are_coalesced(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities(hold_first_load=True)
    document = new_document(name="Draft one")
    catalog.put(document)
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(document), task_queue=queue)
        await asyncio.wait_for(catalog.first_load_started.wait(), 30)
        for name in ("Draft two", "Final cut"):
            written = catalog.bump(document, name=name)
            await start_poc_indexing(time_skipping_env.client, request_for(written), task_queue=queue)
        catalog.release_first_load.set()
        state = await finished(time_skipping_env, document)
        handle = time_skipping_env.client.get_workflow_handle(state_id(document))
        history = await handle.fetch_history()

    assert catalog.load_requests == [1, 3], "three writes, two loads: versions 2 and 3 were coalesced"
    assert (state.requested_version, state.indexed_version, state.passes) == (3, 3, 2)
    assert await indexed_version(search_engine, document) == 3
    assert await names_found(search_engine, document, "final cut") == ["Final cut"]
    replayer = Replayer(
        workflows=[PocIndexing], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None


def state_id(document: PocDocument) -> str:
    return poc_index_workflow_id(document.tenant_id, document.poc_id)


async def test_a_failing_load_is_retried_with_backoff(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities(failing_attempts=3)
    document = new_document(name="Flaky catalog")
    catalog.put(document)
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(document), task_queue=queue)
        state = await finished(time_skipping_env, document)
        history = await time_skipping_env.client.get_workflow_handle(state_id(document)).fetch_history()
    assert catalog.attempts == [1, 2, 3, 4]
    assert state.indexed_version == 1
    assert await indexed_version(search_engine, document) == 1
    scheduled = [
        event for event in history.events if event.HasField("activity_task_scheduled_event_attributes")
    ]
    retry = scheduled[0].activity_task_scheduled_event_attributes.retry_policy
    assert retry.backoff_coefficient == INDEXING_RETRY.backoff_coefficient == 2.0
    assert retry.maximum_attempts == INDEXING_RETRY.maximum_attempts


async def test_a_poc_gone_from_catalog_is_removed_and_stays_removed(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities()
    document = new_document(name="Doomed prototype", version=4)
    assert await search_engine.upsert(document)
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(document, 5), task_queue=queue)
        state = await finished(time_skipping_env, document)
    assert state.indexed_version == 5
    assert await names_found(search_engine, document, "doomed") == []
    assert not await search_engine.upsert(document), "a late version 4 must not bring it back"


async def test_a_soft_deleted_poc_leaves_a_tombstone(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities()
    document = new_document(name="Archived idea")
    assert await search_engine.upsert(document)
    catalog.put(dataclasses.replace(document, version=2, deleted=True))
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(document, 2), task_queue=queue)
        await finished(time_skipping_env, document)
    assert await names_found(search_engine, document, "archived") == []
    assert await indexed_version(search_engine, document) == 2


async def test_an_older_version_never_overwrites_a_newer_one(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    catalog = StandInCatalogActivities()
    newer = new_document(name="Newest title", version=5)
    assert await search_engine.upsert(newer)
    catalog.put(dataclasses.replace(newer, name="Old title", version=4))
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        await start_poc_indexing(time_skipping_env.client, request_for(newer, 4), task_queue=queue)
        state = await finished(time_skipping_env, newer)
    assert state.indexed_version == 4
    assert await indexed_version(search_engine, newer) == 5
    assert await names_found(search_engine, newer, "title") == ["Newest title"]
