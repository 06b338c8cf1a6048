"""The catalog's indexing activities, run by Temporal's activity environment on the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.catalog import CatalogActivities
from api.common.settings import Settings
from tests.integration.catalog.support import TokenMint, create_poc
from workflows.poc_indexing_types import PocIndexRequest, VersionsPageRequest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def activities(settings: Settings) -> AsyncIterator[CatalogActivities]:
    async with CatalogActivities.from_settings(settings) as provider:
        yield provider


async def test_load_poc_document_reads_the_poc_in_its_tenant(
    client: AsyncTestClient[Any], mint: TokenMint, activities: CatalogActivities
) -> None:
    owner = mint.caller()
    poc = await create_poc(
        client, owner, tags=["Programação", "api"], frameworks=["FastAPI"], isPublic=True, language="py"
    )
    environment = ActivityEnvironment()
    request = PocIndexRequest(tenant_id=str(owner.tenant_id), poc_id=poc["pocId"], version=1)

    document = await environment.run(activities.load_poc_document, request)
    assert document is not None
    assert document.poc_id == poc["pocId"]
    assert document.tenant_id == str(owner.tenant_id)
    assert document.user_id == str(owner.user_id)
    assert document.name == poc["name"]
    assert document.language == "Python"
    assert document.is_public is True
    assert sorted(document.tags) == ["Programação", "api"]
    assert document.frameworks == ["FastAPI"]
    assert document.version == 1
    assert document.deleted is False

    await client.delete(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)
    deleted = await environment.run(activities.load_poc_document, request)
    assert deleted is not None
    assert deleted.deleted is True
    assert deleted.version == 2

    other_tenant = PocIndexRequest(tenant_id=str(uuid.uuid4()), poc_id=poc["pocId"], version=1)
    assert await environment.run(activities.load_poc_document, other_tenant) is None
    unknown = PocIndexRequest(tenant_id=str(owner.tenant_id), poc_id=str(uuid.uuid4()), version=1)
    assert await environment.run(activities.load_poc_document, unknown) is None


async def test_versions_pages_cover_every_poc_in_keyset_order(
    client: AsyncTestClient[Any], mint: TokenMint, activities: CatalogActivities
) -> None:
    owner = mint.caller()
    created = [await create_poc(client, owner) for _ in range(3)]
    await client.delete(f"/v1/pocs/{created[0]['pocId']}", headers=owner.headers)
    environment = ActivityEnvironment()

    seen: list[tuple[str, str, int, bool]] = []
    request = VersionsPageRequest(limit=2)
    pages = 0
    while True:
        page = await environment.run(activities.list_poc_versions, request)
        pages += 1
        assert len(page.items) <= 2
        seen += [(item.tenant_id, item.poc_id, item.version, item.deleted) for item in page.items]
        if not page.has_more:
            break
        last = page.items[-1]
        request = VersionsPageRequest(after_tenant_id=last.tenant_id, after_poc_id=last.poc_id, limit=2)

    keys = [(tenant, poc) for tenant, poc, _, _ in seen]
    assert keys == sorted(keys), "pages follow the (tenant_id, poc_id) order of their text"
    assert len(keys) == len(set(keys))
    assert pages >= 2
    mine = {
        poc: (version, deleted) for tenant, poc, version, deleted in seen if tenant == str(owner.tenant_id)
    }
    assert mine == {
        created[0]["pocId"]: (2, True),
        created[1]["pocId"]: (1, False),
        created[2]["pocId"]: (1, False),
    }

    after_mine = VersionsPageRequest(
        after_tenant_id=str(owner.tenant_id), after_poc_id="f" * 8 + "-ffff-ffff-ffff-" + "f" * 12
    )
    rest = await environment.run(activities.list_poc_versions, after_mine)
    assert all(item.tenant_id > str(owner.tenant_id) for item in rest.items)

    only_mine = await environment.run(
        activities.list_poc_versions, VersionsPageRequest(tenant_ids=[str(owner.tenant_id)], limit=10)
    )
    assert {item.poc_id for item in only_mine.items} == {poc["pocId"] for poc in created}
    assert not only_mine.has_more


async def test_bad_ids_fail_without_retrying(activities: CatalogActivities) -> None:
    environment = ActivityEnvironment()
    with pytest.raises(ApplicationError) as failure:
        await environment.run(
            activities.load_poc_document,
            PocIndexRequest(tenant_id="nope", poc_id=str(uuid.uuid4()), version=1),
        )
    assert failure.value.non_retryable
    assert failure.value.type == "InvalidInput"
