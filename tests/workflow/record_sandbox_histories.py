"""Record SandboxRun histories for its replay test: ``python -m tests.workflow.record_sandbox_histories``.

They go to ``histories/sandbox_run/`` and are replayed by test_sandbox_run against the current
code. Record them again only with a versioned change of the workflow (see record_histories).
The "completed" scenario runs the real sandbox (as root); the others use the stand-in activity.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.sandbox import SandboxActivities
from realtime.sandbox import SandboxEngine
from temporal.converter import data_converter
from temporal.search_attributes import ensure_search_attributes
from tests.workflow.test_sandbox_run import StandInSandboxActivity, new_request, sandbox_worker, start

HISTORIES = Path(__file__).parent / "histories" / "sandbox_run"
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


async def _record(
    env: WorkflowEnvironment,
    name: str,
    activities: list[Callable[..., Any]],
    finish: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]],
    **request: str,
) -> None:
    async with sandbox_worker(env, activities) as queue:
        with env.auto_time_skipping_disabled():
            handle = await start(env, queue, new_request(**request))
            await finish(handle)
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}")  # noqa: T201 - a command-line tool


async def _result(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.result()


async def main() -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter, test_server_existing_path=str(TEST_SERVER)
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        engine = SandboxEngine()
        await _record(env, "completed", list(SandboxActivities(engine).activities()), _result)
        crashed = StandInSandboxActivity(RuntimeError("the activity crashed"))
        await _record(env, "activity_failed", [crashed.run_sandboxed_code], _result)
        blocked = StandInSandboxActivity()

        async def cancel(handle: WorkflowHandle[Any, Any]) -> None:
            await asyncio.wait_for(blocked.started.wait(), timeout=30)
            await handle.cancel()
            try:
                await handle.result()
            except Exception as exc:  # a cancelled run ends with an error, as expected
                print(f"cancelled: {type(exc).__name__}")  # noqa: T201
            await asyncio.sleep(0.5)

        await _record(env, "cancelled", [blocked.run_sandboxed_code], cancel, run_id=str(uuid.uuid4()))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
