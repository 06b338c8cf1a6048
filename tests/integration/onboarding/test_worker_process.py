"""The worker as operators run it: its own process, one task queue, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from temporalio.client import Client

from api.common.settings import Settings
from tests.integration.onboarding.conftest import signup, start_onboarding, unique_slug

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[3]


async def test_worker_process_onboards_a_tenant_and_stops_cleanly_on_sigterm(
    temporal_client: Client, stack_settings: Settings, superuser: asyncpg.Connection
) -> None:
    task_queue = f"identity-process-{uuid4()}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "temporal.worker",
        "identity",
        "--task-queue",
        task_queue,
        cwd=REPOSITORY,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        slug = unique_slug("proc")
        handle = await start_onboarding(temporal_client, task_queue, signup(slug, locale="en"))
        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result.status == "COMPLETED"
        assert await superuser.fetchval("SELECT status FROM tenants WHERE slug = $1", slug) == "ACTIVE"

        process.send_signal(signal.SIGTERM)
        raw_output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    output = raw_output.decode()
    assert process.returncode == 0, output
    assert f"worker for task queue {task_queue} stopped" in output
