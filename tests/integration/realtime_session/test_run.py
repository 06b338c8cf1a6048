""" "Run": the room's current code through the SandboxRun workflow and a real sandbox worker, the
result broadcast to everyone in the room on every instance, one run at a time."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.common.settings import Settings
from infra.stack import free_port
from tests.integration.realtime_session.support import (
    Parts,
    create_dojo,
    running_instance,
    session,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def sandboxed(parts: Parts, sandbox_queue: str) -> Parts:
    """The parts with "Run" going to the session's sandbox worker."""
    parts.config = parts.config.model_copy(update={"run_task_queue": sandbox_queue})
    return parts


def result_of(run_id: str) -> Any:
    return lambda frame: frame["result"]["runId"] == run_id


async def test_a_run_reaches_everyone_on_both_instances(sandboxed: Parts) -> None:
    parts = sandboxed
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1)
    ana, bia = dojo.participants
    parts.live.code[dojo.dojo_id] = "import sys\nprint('olá, dojo')\nprint('oops', file=sys.stderr)\n"
    async with running_instance(parts) as one, running_instance(parts) as two:
        async with (
            session(one, dojo, ana) as ana_client,
            session(two, dojo, bia) as bia_client,
            session(two, dojo, dojo.observers[0]) as observer,
        ):
            run_id = str(uuid.uuid4())
            await bia_client.send("run.request", runId=run_id)
            for client in (ana_client, bia_client, observer):
                started = (await client.expect("run.started"))["run"]
                assert (started["runId"], started["userId"], started["displayName"], started["language"]) == (
                    run_id,
                    str(bia.user_id),
                    "Participant 2",
                    "python",
                )
            results = [
                (await client.expect("run.result", result_of(run_id), within=30))["result"]
                for client in (ana_client, bia_client, observer)
            ]
            assert results[0] == results[1] == results[2]
            result = results[0]
            assert (result["status"], result["stdout"], result["stderr"], result["exitCode"]) == (
                "OK",
                "olá, dojo\n",
                "oops\n",
                0,
            )
            assert result["wallTimeMs"] > 0
            assert result["cpuTimeMs"] > 0
            assert result["memoryBytes"] > 0
            assert result["languageVersion"]
            assert result["errorCode"] is None

            assert parts.temporal is not None
            workflow = parts.temporal.get_workflow_handle(
                f"sandbox-run/{dojo.tenant_id}/{dojo.dojo_id}/{run_id}"
            )
            assert (await workflow.describe()).status is not None

            parts.live.code[dojo.dojo_id] = "while True:\n    pass\n"
            await ana_client.send("run.request", language="py")
            busy_started = (await bia_client.expect("run.started"))["run"]
            await bia_client.send("run.request")
            busy = await bia_client.expect("error")
            assert busy["code"] == "run-busy"
            assert busy["runId"] == busy_started["runId"]
            assert "Participant 1" in busy["message"]
            async with session(one, dojo, dojo.observers[0]) as late:
                assert late.welcome["run"]["runId"] == busy_started["runId"], (
                    "a newcomer sees the run in progress"
                )
            timed_out = (await observer.expect("run.result", result_of(busy_started["runId"]), within=30))[
                "result"
            ]
            assert timed_out["status"] == "TIMEOUT"

            parts.live.code[dojo.dojo_id] = "console.log(6 * 7)"
            node_run = str(uuid.uuid4())
            await ana_client.send("run.request", runId=node_run, language="javascript")
            node = (await ana_client.expect("run.result", result_of(node_run), within=30))["result"]
            assert (node["status"], node["stdout"], node["language"]) == ("OK", "42\n", "javascript")


async def test_observers_cannot_run_and_bad_requests_are_refused(sandboxed: Parts) -> None:
    parts = sandboxed
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts) as instance:
        async with (
            session(instance, dojo, dojo.observers[0]) as observer,
            session(instance, dojo, dojo.facilitator) as runner,
        ):
            await observer.send("run.request")
            refusal = await observer.expect("error")
            assert refusal["code"] == "observer-read-only"
            await runner.send("run.request", language="cobol")
            assert (await runner.expect("error"))["code"] == "run-language-unavailable"
            await runner.send("run.request", stdin="x" * (parts.config.run_stdin_max_bytes + 1))
            assert (await runner.expect("error"))["code"] == "run-too-large"

            # No live room: the initial code runs.
            run_id = str(uuid.uuid4())
            await runner.send("run.request", runId=run_id)
            result = (await runner.expect("run.result", result_of(run_id), within=30))["result"]
            assert result["stdout"] == "hello, dojo\n"
            # The same click again: nothing runs twice, the same result comes back.
            await runner.send("run.request", runId=run_id)
            again = (await runner.expect("run.result", result_of(run_id), within=30))["result"]
            assert again["stdout"] == result["stdout"]
            assert again["wallTimeMs"] == result["wallTimeMs"]


async def test_a_temporal_outage_is_a_clear_refusal(parts: Parts, settings: Settings) -> None:
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    config = parts.config.model_copy(update={"temporal_connect_timeout_seconds": 1.0})
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts, settings=unreachable, temporal=None, config=config) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            await client.send("run.request")
            refusal = await client.expect("error")
            assert refusal["code"] == "run-unavailable"
            assert "try again" in refusal["message"]
            await client.send("run.request")
            assert (await client.expect("error"))["code"] == "run-unavailable", "the dojo's run was released"


async def test_a_run_nobody_answers_ends_with_a_result_anyway(parts: Parts) -> None:
    config = parts.config.model_copy(update={"run_result_timeout_seconds": 2.0})
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts, config=config) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            await client.send("run.request")
            started = (await client.expect("run.started"))["run"]
            result = (await client.expect("run.result", within=15))["result"]
            assert (result["runId"], result["status"], result["errorCode"]) == (
                started["runId"],
                "SANDBOX_UNAVAILABLE",
                "sandbox_no_answer",
            )
            await client.send("run.request")
            assert await client.expect("run.started"), "the room may run again"
