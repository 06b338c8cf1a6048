"""Catalog's side of the indexing contract, end to end: API write -> PocIndexing -> catalog activity.

A real worker runs the real PocIndexing workflow with catalog's real activities; only the
read model is a stand-in (named so), recording what it would store, because the search
service's own tests cover the read model itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.catalog import CatalogActivities
from api.common.settings import Settings
from temporal.client import connect_client
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.catalog.support import TokenMint, create_poc, running_catalog
from workflows.poc_indexing import PocIndexing
from workflows.poc_indexing_types import (
    DELETE_DOCUMENT_ACTIVITY,
    UPSERT_DOCUMENT_ACTIVITY,
    PocDocument,
    PocIndexingState,
    PocIndexRequest,
    UpsertOutcome,
    poc_index_workflow_id,
)

pytestmark = pytest.mark.integration

TASK_QUEUE = f"catalog-flow-test-{uuid.uuid4().hex[:8]}"


class ReadModelStandIn:
    """Keeps the newest version of each document, as the search read model does."""

    def __init__(self) -> None:
        self.documents: dict[str, PocDocument] = {}

    @activity.defn(name=UPSERT_DOCUMENT_ACTIVITY)
    async def upsert_document(self, document: PocDocument) -> UpsertOutcome:
        current = self.documents.get(document.poc_id)
        if current is not None and current.version >= document.version:
            return UpsertOutcome(applied=False)
        self.documents[document.poc_id] = document
        return UpsertOutcome(applied=True)

    @activity.defn(name=DELETE_DOCUMENT_ACTIVITY)
    async def delete_document(self, request: PocIndexRequest) -> UpsertOutcome:
        return UpsertOutcome(applied=self.documents.pop(request.poc_id, None) is not None)


@pytest.fixture(scope="module")
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings, wait_seconds=30)


@pytest.fixture(scope="module")
def read_model() -> ReadModelStandIn:
    return ReadModelStandIn()


@pytest.fixture(scope="module")
async def worker(settings: Settings, temporal: Client, read_model: ReadModelStandIn) -> AsyncIterator[Worker]:
    async with CatalogActivities.from_settings(settings) as catalog:
        running = Worker(
            temporal,
            task_queue=TASK_QUEUE,
            workflows=[PocIndexing],
            activities=[*catalog.activities(), read_model.upsert_document, read_model.delete_document],
            workflow_runner=WORKFLOW_SANDBOX,
        )
        async with running:
            yield running


@pytest.fixture(scope="module")
async def flow_client(
    settings: Settings, mint: TokenMint, temporal: Client
) -> AsyncIterator[AsyncTestClient[Any]]:
    async with running_catalog(settings, mint, task_queue=TASK_QUEUE, temporal_client=temporal) as client:
        yield client


async def _indexed(read_model: ReadModelStandIn, poc_id: str, version: int) -> PocDocument:
    async with asyncio.timeout(30):
        while True:
            document = read_model.documents.get(poc_id)
            if document is not None and document.version >= version:
                return document
            await asyncio.sleep(0.1)


async def test_a_write_reaches_the_read_model_at_its_version(
    worker: Worker,
    flow_client: AsyncTestClient[Any],
    mint: TokenMint,
    temporal: Client,
    read_model: ReadModelStandIn,
) -> None:
    owner = mint.caller()
    poc = await create_poc(flow_client, owner, name="Fila de pedidos", tags=["Programação"], isPublic=True)
    document = await _indexed(read_model, poc["pocId"], 1)
    assert document.name == "Fila de pedidos"
    assert document.tags == ["Programação"]
    assert document.deleted is False

    poc_path = f"/v1/pocs/{poc['pocId']}"
    for index in range(3):
        await flow_client.patch(
            poc_path, json={"name": f"Fila de pedidos v{index + 2}"}, headers=owner.headers
        )
    await flow_client.delete(poc_path, headers=owner.headers)
    tombstone = await _indexed(read_model, poc["pocId"], 5)
    assert tombstone.deleted is True
    assert tombstone.name == "Fila de pedidos v4"

    handle = temporal.get_workflow_handle(
        poc_index_workflow_id(str(owner.tenant_id), poc["pocId"]), result_type=PocIndexingState
    )
    async with asyncio.timeout(30):
        state = await handle.result()
    assert state.indexed_version == state.requested_version == 5
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
