"""Record TenantOnboarding histories for the replay test: ``python -m tests.workflow.record_histories``.

Run it when the workflow changes on purpose (with a new version of the workflow, or once no
execution of the old code is still running), and commit the JSON files it writes: from then
on, test_replay checks that the code can still replay every recorded execution.

Without arguments it records only the scenarios that have no history yet: the histories of
older versions of the workflow (before the search index step, say) are the point of the
replay test and must not be overwritten by the current code. Name scenarios to re-record them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.common.settings import Settings
from temporal.converter import data_converter
from temporal.search_attributes import ensure_search_attributes
from temporal.worker import build_worker
from tests.workflow.standins import StandInIdentityActivities, always, non_retryable
from workflows.tenant_onboarding_types import (
    SEARCH_INDEX_STEP,
    TASK_QUEUE,
    WORKFLOW_NAME,
    OnboardingInput,
    OnboardingProgress,
)

HISTORIES = Path(__file__).parent / "histories"
logger = logging.getLogger(__name__)

Scenario = tuple[
    StandInIdentityActivities, Callable[[WorkflowHandle[object, OnboardingProgress]], Awaitable[None]]
]


async def _wait_for_result(handle: WorkflowHandle[object, OnboardingProgress]) -> None:
    try:
        await handle.result()
    except WorkflowFailureError:
        pass


def scenarios() -> dict[str, Scenario]:
    blocked = StandInIdentityActivities(block_at="create_storage_prefix")

    async def cancel_when_blocked(handle: WorkflowHandle[object, OnboardingProgress]) -> None:
        await asyncio.wait_for(blocked.blocked.wait(), timeout=30)
        await handle.cancel()
        await _wait_for_result(handle)

    return {
        "completed": (StandInIdentityActivities(), _wait_for_result),
        "compensated_after_email_failed": (
            StandInIdentityActivities(failures={"send_welcome_email": always("mail server down")}),
            _wait_for_result,
        ),
        "slug_taken": (
            StandInIdentityActivities(
                failures={"create_tenant": non_retryable("SlugTaken", "the slug 'acme' is already taken")}
            ),
            _wait_for_result,
        ),
        "cancelled_during_storage": (blocked, cancel_when_blocked),
        # Recorded with the search index step (the create-tenant-search-index patch):
        "completed_with_search_index": (StandInIdentityActivities(), _wait_for_result),
        "compensated_after_search_index_failed": (
            StandInIdentityActivities(failures={SEARCH_INDEX_STEP: always("search engine down")}),
            _wait_for_result,
        ),
    }


async def record(env: WorkflowEnvironment, name: str, scenario: Scenario) -> Path:
    standins, drive = scenario
    task_queue = f"record-{name}-{uuid4()}"
    workflow_id = f"tenant-onboarding/{name.replace('_', '-')}"
    worker = build_worker(TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins)
    async with worker, standins:
        handle: WorkflowHandle[object, OnboardingProgress] = await env.client.start_workflow(
            WORKFLOW_NAME,
            OnboardingInput(
                tenant_name="Acme Ltda",
                slug="acme",
                admin_email="owner@acme.example",
                admin_password_hash="$argon2id$v=19$m=1024,t=1,p=1$recorded$hash",
                admin_full_name="Ana Souza",
                locale="pt_BR",
                search_task_queue=task_queue,
            ),
            id=workflow_id,
            task_queue=task_queue,
            result_type=OnboardingProgress,
        )
        await drive(handle)
        history = await handle.fetch_history()
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json() + "\n")
    return path


async def main(names: list[str]) -> None:
    every = scenarios()
    unknown = set(names) - set(every)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(every)}")
    chosen = names or [name for name in every if not (HISTORIES / f"{name}.json").exists()]
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        HISTORIES.mkdir(exist_ok=True)
        for name in chosen:
            logger.info("recorded %s", await record(env, name, every[name]))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(sys.argv[1:]))
