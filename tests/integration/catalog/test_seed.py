"""The seed generator writes many valid POCs quickly, and a second run writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.catalog.piccolo_conf import build_engine
from api.common.settings import Settings
from infra.seed_pocs import seed_pocs, seed_pocs_with_settings
from temporal.client import connect_client
from tests.integration.catalog.support import Caller, TokenMint
from workflows.poc_indexing_types import poc_index_workflow_id

pytestmark = pytest.mark.integration

UNTIL = datetime(2026, 6, 30, tzinfo=UTC)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Any]:
    """An engine of the test's own event loop (the app's pool lives on the test client's loop)."""
    created = build_engine(settings)
    await created.start_connection_pool(min_size=1, max_size=2)
    try:
        yield created
    finally:
        await created.close_connection_pool()


async def test_seeds_a_tenant_through_the_data_layer(
    client: AsyncTestClient[Any], mint: TokenMint, engine: Any
) -> None:
    owner = mint.caller()
    colleague = mint.caller(owner.tenant_id)

    report = await seed_pocs(
        engine, owner.tenant_id, [owner.user_id, colleague.user_id], 3000, seed=7, until=UNTIL
    )
    assert report.generated == report.inserted == 3000
    assert len(set(report.poc_ids)) == 3000
    # Generous for a shared CI machine; it takes well under a second here.
    assert report.seconds < 20, report.seconds

    again = await seed_pocs(
        engine, owner.tenant_id, [owner.user_id, colleague.user_id], 3000, seed=7, until=UNTIL
    )
    assert again.inserted == 0
    assert again.poc_ids == report.poc_ids

    async def total(caller: Caller, **params: str) -> int:
        response = await client.get("/v1/pocs", params=params, headers=caller.headers)
        assert response.status_code == 200, response.text
        count: int = response.json()["totalItems"]
        return count

    owner_live, owner_trash = await total(owner, owner="me"), await total(owner, deleted="true")
    colleague_live = await total(colleague, owner="me")
    colleague_trash = await total(colleague, deleted="true")
    assert owner_live + owner_trash + colleague_live + colleague_trash == 3000
    assert owner_live > colleague_live > 0
    assert 0 < owner_trash + colleague_trash < 150
    colleague_public = await total(owner, owner=str(colleague.user_id))
    assert 0.3 * colleague_live < colleague_public < 0.6 * colleague_live
    newest = (await client.get("/v1/pocs", params={"owner": "me"}, headers=owner.headers)).json()["items"]
    assert all(datetime.fromisoformat(item["createdAt"]) <= UNTIL for item in newest)

    popular = (await client.get("/v1/tags/popular", headers=owner.headers)).json()
    assert popular[0]["tag"] == "api"
    frameworks = (
        await client.get("/v1/frameworks/popular", params={"language": "Python"}, headers=owner.headers)
    ).json()
    assert {item["framework"] for item in frameworks} <= {
        "Django",
        "FastAPI",
        "Flask",
        "Litestar",
        "Pandas",
        "PyTorch",
        "scikit-learn",
        "Celery",
    }
    other_tenant = mint.caller()
    assert (await client.get("/v1/pocs", headers=other_tenant.headers)).json()["totalItems"] == 0


async def test_the_demo_seed_can_start_indexing_each_poc(settings: Settings, mint: TokenMint) -> None:
    owner = mint.caller()
    queue = f"catalog-seed-test-{owner.tenant_id.hex[:8]}"
    report = await seed_pocs_with_settings(
        settings,
        owner.tenant_id,
        [owner.user_id],
        12,
        seed=11,
        until=UNTIL,
        index=True,
        indexing_task_queue=queue,
    )
    assert report.inserted == 12
    assert report.indexing_started == 12
    temporal = await connect_client(settings)
    for poc_id in report.poc_ids[:3]:
        description = await temporal.get_workflow_handle(
            poc_index_workflow_id(str(owner.tenant_id), str(poc_id))
        ).describe()
        assert description.task_queue == queue
