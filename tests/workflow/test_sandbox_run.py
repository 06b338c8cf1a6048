"""SandboxRun on the time-skipping server: the real activity with the real sandbox, and stand-ins
(named so) for the failures a real sandbox cannot be made to produce on demand (a worker that
dies mid-run, an activity that crashes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.sandbox import SandboxActivities
from realtime.sandbox import Limits, SandboxEngine, SandboxLimits, SandboxUnavailable
from realtime.sandbox.limits import COMPILE_LIMITS
from temporal.converter import data_converter
from temporal.interceptors import TenantContextInterceptor
from temporal.worker import WORKFLOW_SANDBOX
from tests.integration.sandbox.support import UidBlock, claim_uid_block, sandbox_processes
from workflows.sandbox_run import SandboxRun
from workflows.sandbox_run_types import (
    INVALID_RUN_REQUEST_ERROR,
    MAX_SOURCE_BYTES,
    RUN_CODE_ACTIVITY,
    WORKFLOW_NAME,
    SandboxRunRequest,
    SandboxRunResult,
    sandbox_run_workflow_id,
)

pytestmark = pytest.mark.workflow


def new_request(**changes: str) -> SandboxRunRequest:
    values = {
        "tenant_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "dojo_id": str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
        "language": "python",
        "source": "print('hello, dojo')",
    }
    values.update(changes)
    return SandboxRunRequest(**values)


@pytest.fixture(scope="module")
def uid_block() -> Iterator[UidBlock]:
    with claim_uid_block() as block:
        yield block


@pytest.fixture(scope="module")
async def engine(uid_block: UidBlock) -> SandboxEngine:
    engine = uid_block.engine(
        SandboxLimits(run=Limits(cpu_seconds=2, wall_seconds=20), compile=COMPILE_LIMITS)
    )
    try:
        await engine.probe()
    except SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run on this host: {exc.reason}")
    return engine


@asynccontextmanager
async def sandbox_worker(
    env: WorkflowEnvironment, activities: Sequence[Callable[..., Any]]
) -> AsyncIterator[str]:
    task_queue = f"sandbox-test-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[SandboxRun],
        activities=list(activities),
        interceptors=[TenantContextInterceptor()],
        workflow_runner=WORKFLOW_SANDBOX,
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    ):
        yield task_queue


async def start(
    env: WorkflowEnvironment, task_queue: str, request: SandboxRunRequest
) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        WORKFLOW_NAME,
        request,
        id=sandbox_run_workflow_id(request.tenant_id, request.dojo_id, request.run_id),
        task_queue=task_queue,
        result_type=SandboxRunResult,
    )


class StandInSandboxActivity:
    """Stands in for the real `run_sandboxed_code`: blocks without heartbeating, or raises."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.calls = 0
        self.started = asyncio.Event()

    @activity.defn(name=RUN_CODE_ACTIVITY)
    async def run_sandboxed_code(self, request: SandboxRunRequest) -> SandboxRunResult:
        self.calls += 1
        self.started.set()
        if self.failure is not None:
            raise self.failure
        await asyncio.Event().wait()  # a worker that died mid-run: no heartbeat, no answer
        raise AssertionError("unreachable")


async def test_a_python_hello_world_runs_in_the_sandbox(
    time_skipping_env: WorkflowEnvironment, engine: SandboxEngine
) -> None:
    request = new_request()
    async with sandbox_worker(time_skipping_env, SandboxActivities(engine).activities()) as queue:
        with time_skipping_env.auto_time_skipping_disabled():
            handle = await start(time_skipping_env, queue, request)
            result: SandboxRunResult = await handle.result()
    assert (result.status, result.stdout, result.stderr, result.exit_code) == ("OK", "hello, dojo\n", "", 0)
    assert (result.tenant_id, result.dojo_id, result.run_id, result.user_id) == (
        request.tenant_id,
        request.dojo_id,
        request.run_id,
        request.user_id,
    )
    assert (result.language, result.error_code) == ("python", None)
    assert result.language_version
    assert result.wall_time_ms > 0
    assert result.cpu_time_ms > 0
    assert result.memory_bytes > 0
    assert handle.id == f"sandbox-run/{request.tenant_id}/{request.dojo_id}/{request.run_id}"


async def test_a_failing_program_is_a_result_not_a_failure(
    time_skipping_env: WorkflowEnvironment, engine: SandboxEngine
) -> None:
    request = new_request(source="import sys\nprint('bad input', file=sys.stderr)\nsys.exit(2)\n")
    async with sandbox_worker(time_skipping_env, SandboxActivities(engine).activities()) as queue:
        with time_skipping_env.auto_time_skipping_disabled():
            result: SandboxRunResult = await (await start(time_skipping_env, queue, request)).result()
    assert (result.status, result.stderr, result.exit_code) == ("RUNTIME_ERROR", "bad input\n", 2)


async def test_a_lost_worker_is_answered_and_the_run_never_repeated(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Takes the heartbeat timeout (5 s) in real time: the test server does not skip it."""
    stand_in = StandInSandboxActivity()
    request = new_request()
    async with sandbox_worker(time_skipping_env, [stand_in.run_sandboxed_code]) as queue:
        result: SandboxRunResult = await (await start(time_skipping_env, queue, request)).result()
    assert (result.status, result.error_code) == ("SANDBOX_UNAVAILABLE", "sandbox_worker_lost")
    assert (result.run_id, result.dojo_id) == (request.run_id, request.dojo_id)
    assert stand_in.calls == 1


async def test_a_crashed_activity_is_answered_and_never_retried(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    stand_in = StandInSandboxActivity(RuntimeError("the activity crashed"))
    async with sandbox_worker(time_skipping_env, [stand_in.run_sandboxed_code]) as queue:
        result: SandboxRunResult = await (await start(time_skipping_env, queue, new_request())).result()
    assert (result.status, result.error_code) == ("SANDBOX_UNAVAILABLE", "sandbox_run_failed")
    assert stand_in.calls == 1


async def test_an_invalid_request_fails_the_workflow(time_skipping_env: WorkflowEnvironment) -> None:
    stand_in = StandInSandboxActivity()
    too_large = new_request(source="x" * (MAX_SOURCE_BYTES + 1))
    async with sandbox_worker(time_skipping_env, [stand_in.run_sandboxed_code]) as queue:
        with pytest.raises(WorkflowFailureError) as failure:
            await (await start(time_skipping_env, queue, too_large)).result()
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == INVALID_RUN_REQUEST_ERROR
    assert stand_in.calls == 0

    refused = StandInSandboxActivity(
        ApplicationError("the input is too large", type=INVALID_RUN_REQUEST_ERROR, non_retryable=True)
    )
    async with sandbox_worker(time_skipping_env, [refused.run_sandboxed_code]) as queue:
        with pytest.raises(WorkflowFailureError) as failure:
            await (await start(time_skipping_env, queue, new_request())).result()
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == INVALID_RUN_REQUEST_ERROR
    assert refused.calls == 1


async def test_a_second_start_of_the_same_run_is_refused(time_skipping_env: WorkflowEnvironment) -> None:
    stand_in = StandInSandboxActivity()
    request = new_request()
    async with sandbox_worker(time_skipping_env, [stand_in.run_sandboxed_code]) as queue:
        handle = await start(time_skipping_env, queue, request)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start(time_skipping_env, queue, request)
        await handle.terminate("test over")


async def test_cancelling_the_workflow_kills_the_sandbox(
    time_skipping_env: WorkflowEnvironment, engine: SandboxEngine
) -> None:
    request = new_request(source="import time\nprint('started', flush=True)\ntime.sleep(60)\n")

    async with sandbox_worker(time_skipping_env, SandboxActivities(engine).activities()) as queue:
        with time_skipping_env.auto_time_skipping_disabled():
            handle = await start(time_skipping_env, queue, request)
            for _ in range(100):
                if sandbox_processes(engine):
                    break
                await asyncio.sleep(0.05)
            assert sandbox_processes(engine), "the program never started"
            await handle.cancel()
            for _ in range(100):
                if not sandbox_processes(engine):
                    break
                await asyncio.sleep(0.05)
            assert sandbox_processes(engine) == []
            for _ in range(100):
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
                await asyncio.sleep(0.05)
            assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


RECORDED = sorted((Path(__file__).parent / "histories" / "sandbox_run").glob("*.json"))


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in RECORDED} >= {"completed", "activity_failed", "cancelled"}


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays_on_the_current_code(path: Path) -> None:
    """Recorded by ``python -m tests.workflow.record_sandbox_histories``."""
    replayer = Replayer(
        workflows=[SandboxRun], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    history = WorkflowHistory.from_json(f"sandbox-run/{path.stem}", await asyncio.to_thread(path.read_text))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
