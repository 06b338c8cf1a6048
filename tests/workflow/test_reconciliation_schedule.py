"""The reconciliation schedule on the session's real Temporal dev server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from activities.search import RECONCILIATION_INTERVAL, ensure_reconciliation_schedule
from api.common.settings import Settings
from temporal.client import connect_client
from workflows.poc_indexing_types import RECONCILIATION_WORKFLOW_NAME, TASK_QUEUE

pytestmark = pytest.mark.workflow


async def test_the_schedule_is_created_once_then_kept_up_to_date(stack_settings: Settings) -> None:
    client = await connect_client(stack_settings)
    schedule_id = f"poc-index-reconciliation-test-{uuid.uuid4()}"
    try:
        assert await ensure_reconciliation_schedule(client, schedule_id=schedule_id)
        described = await client.get_schedule_handle(schedule_id).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == RECONCILIATION_WORKFLOW_NAME
        assert action.task_queue == TASK_QUEUE
        assert [spec.every for spec in described.schedule.spec.intervals] == [RECONCILIATION_INTERVAL]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP

        assert not await ensure_reconciliation_schedule(
            client, schedule_id=schedule_id, interval=timedelta(minutes=5)
        )
        updated = await client.get_schedule_handle(schedule_id).describe()
        assert [spec.every for spec in updated.schedule.spec.intervals] == [timedelta(minutes=5)]
    finally:
        await client.get_schedule_handle(schedule_id).delete()
