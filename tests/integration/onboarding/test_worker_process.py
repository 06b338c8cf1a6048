"""Workers as operators run them: a process per task queue, stopped by SIGTERM.

Onboarding needs two: identity's, and search's indexing worker for the tenant's search index.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow

from api.common.settings import Settings
from tests.integration.onboarding.conftest import (
    OnboardingQueues,
    signup,
    start_onboarding,
    unique_slug,
)

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[3]


async def _worker_process(queue: str, task_queue: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "temporal.worker",
        queue,
        "--task-queue",
        task_queue,
        cwd=REPOSITORY,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _stop(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    raw_output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return raw_output.decode()


async def test_worker_processes_onboard_a_tenant_and_stop_cleanly_on_sigterm(
    temporal_client: Client, stack_settings: Settings, superuser: asyncpg.Connection
) -> None:
    queues = OnboardingQueues(identity=f"identity-process-{uuid4()}", indexing=f"indexing-process-{uuid4()}")
    identity = await _worker_process("identity", queues.identity)
    indexing = await _worker_process("indexing", queues.indexing)
    try:
        slug = unique_slug("proc")
        handle = await start_onboarding(temporal_client, queues, signup(slug, locale="en"))
        result = await asyncio.wait_for(handle.result(), timeout=90)
        assert result.status == "COMPLETED"
        assert await superuser.fetchval("SELECT status FROM tenants WHERE slug = $1", slug) == "ACTIVE"
        # The indexing worker keeps the read model's reconciliation scheduled (its own, on a test queue).
        schedule = temporal_client.get_schedule_handle(f"poc-index-reconciliation/{queues.indexing}")
        action = (await schedule.describe()).schedule.action
        await schedule.delete()
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.task_queue == queues.indexing

        outputs = {queues.identity: await _stop(identity), queues.indexing: await _stop(indexing)}
    finally:
        for process in (identity, indexing):
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert (identity.returncode, indexing.returncode) == (0, 0), outputs
    for task_queue, output in outputs.items():
        assert f"worker for task queue {task_queue} stopped" in output
