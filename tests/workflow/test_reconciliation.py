"""PocIndexReconciliation finds drift page by page and repairs it through PocIndexing.

Time-skipping server; search's real activities on the real PostgreSQL engine; catalog's
activities are stand-ins (named so). The run is scoped to this test's two tenants, because the
read model is shared with every other test of the session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from api.common.settings import Settings
from api.search.postgres_engine import PostgresSearchEngine
from tests.integration.search.catalog_standin import StandInCatalogActivities
from tests.integration.search.support import migrated
from tests.workflow.test_poc_indexing import indexing_worker, new_document
from workflows.poc_indexing import compare_versions
from workflows.poc_indexing_types import (
    RECONCILIATION_WORKFLOW_NAME,
    PocDocument,
    PocIndexingState,
    PocVersion,
    ReconciliationInput,
    ReconciliationReport,
    poc_index_workflow_id,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
async def search_engine(stack_settings: Settings) -> AsyncIterator[PostgresSearchEngine]:
    engine = PostgresSearchEngine.from_settings(await migrated(stack_settings))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def test_drift_is_found_page_by_page_and_repaired(
    time_skipping_env: WorkflowEnvironment, search_engine: PostgresSearchEngine
) -> None:
    tenants = [str(uuid.uuid4()), str(uuid.uuid4())]
    catalog = StandInCatalogActivities()

    def catalog_poc(index: int, version: int = 2, **changes: object) -> PocDocument:
        document = dataclasses.replace(
            new_document(version=version, name=f"Drift sample {index}"),
            tenant_id=tenants[index % 2],
            **changes,  # type: ignore[arg-type]
        )
        catalog.put(document)
        return document

    in_sync = [catalog_poc(index) for index in range(8)]
    stale = [catalog_poc(index) for index in range(8, 12)]
    missing = [catalog_poc(index) for index in range(12, 16)]
    soft_deleted_never_indexed = catalog_poc(16, deleted=True)
    ahead = catalog_poc(17)
    for document in in_sync:
        assert await search_engine.upsert(document)
    for document in stale:
        assert await search_engine.upsert(dataclasses.replace(document, version=1, name="Outdated"))
    assert await search_engine.upsert(dataclasses.replace(ahead, version=3))
    orphans = [dataclasses.replace(new_document(name="Orphan"), tenant_id=tenant) for tenant in tenants]
    for orphan in orphans:
        assert await search_engine.upsert(orphan)
    orphan_tombstone = dataclasses.replace(new_document(), tenant_id=tenants[0])
    assert await search_engine.delete(orphan_tombstone.tenant_id, orphan_tombstone.poc_id, 9)

    page_size = 5
    async with indexing_worker(time_skipping_env, search_engine, catalog) as queue:
        report: ReconciliationReport = await time_skipping_env.client.execute_workflow(
            RECONCILIATION_WORKFLOW_NAME,
            ReconciliationInput(page_size=page_size, task_queue=queue, tenant_ids=tenants),
            id=f"reconciliation-test-{uuid.uuid4()}",
            task_queue=queue,
            result_type=ReconciliationReport,
        )
        repaired = [*stale, *missing, *orphans]
        states = await asyncio.gather(
            *(
                time_skipping_env.client.get_workflow_handle(
                    poc_index_workflow_id(document.tenant_id, document.poc_id), result_type=PocIndexingState
                ).result()
                for document in repaired
            )
        )

    assert report == ReconciliationReport(
        pages=math.ceil(18 / page_size), checked=18, missing=4, stale=4, orphaned=2, ahead=1, requested=10
    )
    assert all(state.indexed_version >= 1 for state in states)
    indexed = {item.poc_id: item for item in await search_engine.versions(None, None, tenant_ids=tenants)}
    for document in [*in_sync, *stale, *missing]:
        assert (indexed[document.poc_id].version, indexed[document.poc_id].deleted) == (2, False)
    for orphan in orphans:
        assert (indexed[orphan.poc_id].version, indexed[orphan.poc_id].deleted) == (2, True)
    assert soft_deleted_never_indexed.poc_id not in indexed
    assert indexed[ahead.poc_id].version == 3
    assert indexed[orphan_tombstone.poc_id].deleted


def test_comparison_rules() -> None:
    tenant = str(uuid.uuid4())
    catalog = [
        PocVersion(tenant, "a", 2),
        PocVersion(tenant, "b", 2),
        PocVersion(tenant, "c", 2, deleted=True),
        PocVersion(tenant, "d", 2),
    ]
    indexed = [PocVersion(tenant, "b", 1), PocVersion(tenant, "d", 4), PocVersion(tenant, "e", 6)]
    report = ReconciliationReport()
    requests = compare_versions(catalog, indexed, report)
    assert [(request.poc_id, request.version) for request in requests] == [("a", 2), ("b", 2), ("e", 7)]
    assert (report.checked, report.missing, report.stale, report.ahead, report.orphaned) == (4, 1, 1, 1, 1)
