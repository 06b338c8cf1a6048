"""Recorded TenantOnboarding histories still replay, so a code change can't break workflows in flight.

The histories were recorded by ``python -m tests.workflow.record_histories``; re-record them
only together with a versioned change of the workflow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from temporal.converter import data_converter
from temporal.worker import WORKFLOW_SANDBOX
from workflows.tenant_onboarding import STEP_RETRY, STEP_TIMEOUT, TenantOnboarding
from workflows.tenant_onboarding_types import WORKFLOW_NAME, OnboardingInput, TenantRef

pytestmark = pytest.mark.workflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"tenant-onboarding/{path.stem}", path.read_text())


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in HISTORIES} >= {
        "completed",
        "compensated_after_email_failed",
        "slug_taken",
        "cancelled_during_storage",
        "completed_with_search_index",
        "compensated_after_search_index_failed",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_recorded_history_replays_on_the_current_code(path: Path) -> None:
    replayer = Replayer(
        workflows=[TenantOnboarding], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class ActivatesFirst:
    """A careless edit of the saga (activation moved first), to prove the replay test can fail."""

    @workflow.run
    async def run(self, request: OnboardingInput) -> None:
        await workflow.execute_activity(
            "activate_tenant",
            TenantRef(tenant_id=str(workflow.uuid4())),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )


async def test_a_reordered_saga_is_caught_as_nondeterministic() -> None:
    replayer = Replayer(workflows=[ActivatesFirst], data_converter=data_converter)
    result = await replayer.replay_workflow(
        _history(Path(__file__).parent / "histories" / "completed.json"), raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
