"""Every committed change starts (or signals) the POC's PocIndexing workflow, with its version.

No worker runs here: the workflow stays pending on a task queue of this module's own, and
the test reads what the catalog handed Temporal from the workflow's history.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from litestar.testing import AsyncTestClient
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from api.common.settings import Settings
from infra.stack import free_port
from temporal.client import connect_client
from temporal.converter import data_converter
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from tests.integration.catalog.support import TokenMint, create_poc, running_catalog
from workflows.poc_indexing_types import WORKFLOW_NAME, PocIndexRequest, poc_index_workflow_id

pytestmark = pytest.mark.integration

TASK_QUEUE = f"catalog-indexing-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings, wait_seconds=30)


@pytest.fixture(scope="module")
async def indexing_client(
    settings: Settings, mint: TokenMint, temporal: Client
) -> AsyncIterator[AsyncTestClient[Any]]:
    async with running_catalog(settings, mint, task_queue=TASK_QUEUE, temporal_client=temporal) as client:
        yield client


async def _requested_versions(temporal: Client, workflow_id: str) -> tuple[PocIndexRequest, list[int]]:
    """The workflow's input and the versions of every reindex signal, in order."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    started: PocIndexRequest | None = None
    signalled: list[int] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attributes = event.workflow_execution_started_event_attributes
            (started,) = await data_converter.decode(list(attributes.input.payloads), [PocIndexRequest])
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes_signal = event.workflow_execution_signaled_event_attributes
            assert attributes_signal.signal_name == "reindex"
            (request,) = await data_converter.decode(
                list(attributes_signal.input.payloads), [PocIndexRequest]
            )
            signalled.append(request.version)
    assert started is not None
    return started, signalled


async def test_writes_signal_with_start_the_pocs_indexing_workflow(
    indexing_client: AsyncTestClient[Any], mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller()
    poc = await create_poc(indexing_client, owner, tags=["api"])
    workflow_id = poc_index_workflow_id(str(owner.tenant_id), poc["pocId"])
    assert workflow_id == f"poc-index/{owner.tenant_id}/{poc['pocId']}"

    description = await temporal.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.workflow_type == WORKFLOW_NAME
    assert description.task_queue == TASK_QUEUE
    assert description.typed_search_attributes.get(TENANT_ID) == str(owner.tenant_id)
    assert description.typed_search_attributes.get(REQUEST_TYPE) == "POC_INDEXING"
    started, signalled = await _requested_versions(temporal, workflow_id)
    assert started == PocIndexRequest(tenant_id=str(owner.tenant_id), poc_id=poc["pocId"], version=1)
    assert signalled == [1]

    poc_path = f"/v1/pocs/{poc['pocId']}"
    await indexing_client.patch(poc_path, json={"name": "Renomeada"}, headers=owner.headers)
    await indexing_client.post(f"{poc_path}/tags", json={"tag": "nova"}, headers=owner.headers)
    await indexing_client.delete(f"{poc_path}/tags/nova", headers=owner.headers)
    await indexing_client.delete(poc_path, headers=owner.headers)
    await indexing_client.post(f"{poc_path}/restore", headers=owner.headers)
    final = (await indexing_client.get(poc_path, headers=owner.headers)).json()
    assert final["version"] == 6

    started_again, signalled = await _requested_versions(temporal, workflow_id)
    assert started_again.version == 1
    assert signalled == [1, 2, 3, 4, 5, 6]
    still = await temporal.get_workflow_handle(workflow_id).describe()
    assert still.run_id == description.run_id
    assert still.status == WorkflowExecutionStatus.RUNNING


async def test_refused_writes_start_nothing(
    indexing_client: AsyncTestClient[Any], mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller()
    stranger = mint.caller(owner.tenant_id)
    poc = await create_poc(indexing_client, owner, isPublic=True)
    workflow_id = poc_index_workflow_id(str(owner.tenant_id), poc["pocId"])
    forbidden = await indexing_client.patch(
        f"/v1/pocs/{poc['pocId']}", json={"name": "Minha agora"}, headers=stranger.headers
    )
    assert forbidden.status_code == 403
    invalid = await indexing_client.patch(
        f"/v1/pocs/{poc['pocId']}", json={"repositoryUrl": "ftp://x"}, headers=owner.headers
    )
    assert invalid.status_code == 422
    _, signalled = await _requested_versions(temporal, workflow_id)
    assert signalled == [1]


async def test_writes_succeed_while_temporal_is_unreachable(settings: Settings, mint: TokenMint) -> None:
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with running_catalog(unreachable, mint) as client:
        owner = mint.caller()
        with structlog.testing.capture_logs() as logs:
            poc = await create_poc(client, owner)
        assert poc["version"] == 1
        fetched = await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)
        assert fetched.status_code == 200
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert any(
        entry["event"].startswith("poc indexing not started") and entry["poc_id"] == poc["pocId"]
        for entry in warnings
    ), logs
