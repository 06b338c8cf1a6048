"""Cancelling: a running workflow is asked to stop; a request whose workflow never started ends here.

The real ReportGeneration workflow is tested on its own (tests/workflow/). Here a stand-in is
registered under its name on this module's task queue: it waits until cancelled, then marks
the request CANCELLED through the repository, as the real one does, so the test follows
the whole path from the API call to the person seeing CANCELLED.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.content import repository
from api.content.piccolo_conf import build_engine
from tests.integration.content.support import (
    ContentClient,
    TokenMint,
    create_report,
    fresh_queue_name,
    insert_unstarted,
    running_content,
)
from workflows.report_generation_types import WORKFLOW_NAME, ReportJob, report_workflow_id

pytestmark = pytest.mark.integration

STAND_IN_CANCEL_ACTIVITY = "stand_in_mark_report_cancelled"


@dataclass
class StandInCancel:
    tenant_id: str
    request_id: str


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class StandInReportGeneration:
    """Stands in for ReportGeneration: runs until cancelled, then records the cancellation."""

    @workflow.run
    async def run(self, job: ReportJob) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            await workflow.execute_activity(
                STAND_IN_CANCEL_ACTIVITY,
                StandInCancel(tenant_id=job.tenant_id, request_id=job.request_id),
                start_to_close_timeout=timedelta(seconds=10),
            )
            raise
        return "unreachable"


class StandInActivities:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @activity.defn(name=STAND_IN_CANCEL_ACTIVITY)
    async def mark_cancelled(self, request: StandInCancel) -> bool:
        async with tenant_transaction(self.engine, request.tenant_id) as transaction:
            return await repository.mark_cancelled(transaction.connection, uuid.UUID(request.request_id))


@pytest.fixture(scope="module")
async def worker_client(
    settings: Settings, mint: TokenMint, temporal: Client
) -> AsyncIterator[ContentClient]:
    """The app and a worker running the stand-in on one task queue of this module's own."""
    queue = fresh_queue_name()
    engine = build_engine(settings)
    worker = Worker(
        temporal,
        task_queue=queue,
        workflows=[StandInReportGeneration],
        activities=[StandInActivities(engine).mark_cancelled],
    )
    async with worker, running_content(settings, mint, task_queue=queue, temporal_client=temporal) as client:
        yield client


async def _wait_for_status(
    client: ContentClient, path: str, headers: dict[str, str], status: str
) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            body: dict[str, Any] = (await client.get(path, headers=headers)).json()
            if body["status"] == status:
                return body
            await asyncio.sleep(0.1)


async def test_a_running_request_is_cancelled_through_its_workflow(
    worker_client: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller()
    created = await create_report(worker_client, owner)
    handle = temporal.get_workflow_handle(report_workflow_id(str(owner.tenant_id), created["id"]))

    response = await worker_client.post(f"/v1/reports/{created['id']}/cancel", headers=owner.headers)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING", "the workflow ends it, not the API"
    assert accepted["cancelRequestedAt"] is not None
    path = f"/v1/reports/{created['id']}"
    ended = await _wait_for_status(worker_client, path, owner.headers, "CANCELLED")
    assert ended["cancelRequestedAt"] == accepted["cancelRequestedAt"]
    assert ended["completedAt"] is not None
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), timeout=20)
    assert isinstance(failure.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

    again = await worker_client.post(
        f"/v1/reports/{created['id']}/cancel", headers=owner.with_headers(Accept_Language="en")
    )
    assert again.status_code == 409
    assert again.json()["code"] == "report-already-finished"
    assert again.json()["reportStatus"] == "CANCELLED"
    assert again.json()["detail"] == (
        "This report request has already ended (cancelled); there is nothing left to cancel."
    )


async def test_a_request_whose_workflow_never_started_is_cancelled_at_once(
    client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    unstarted = await insert_unstarted(client.runtime, owner)

    response = await client.post(f"/v1/reports/{unstarted.request_id}/cancel", headers=owner.headers)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "CANCELLED"
    assert body["cancelRequestedAt"] is not None
    assert body["completedAt"] is not None


@pytest.mark.parametrize("ending", ["completed", "failed"])
async def test_ended_requests_cannot_be_cancelled(
    client: ContentClient, mint: TokenMint, ending: str
) -> None:
    owner = mint.caller()
    created = await create_report(client, owner)
    request_id = uuid.UUID(created["id"])
    async with client.runtime.work(owner.tenant_id) as work:
        if ending == "completed":
            await repository.mark_completed(
                work.connection, request_id, result_key="k", media_type="application/pdf", size=1, poc_count=0
            )
        else:
            await repository.mark_failed(work.connection, request_id, error_code="X", error_message="x")

    response = await client.post(
        f"/v1/reports/{request_id}/cancel", headers=owner.with_headers(Accept_Language="pt-BR")
    )

    assert response.status_code == 409
    assert response.json()["reportStatus"] == ending.upper()
    assert "não há mais nada para cancelar" in response.json()["detail"]
    assert (await client.get(f"/v1/reports/{request_id}", headers=owner.headers)).json()[
        "status"
    ] == ending.upper()
