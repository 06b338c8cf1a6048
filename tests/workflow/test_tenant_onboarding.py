"""The TenantOnboarding saga's control flow, with stand-in activities on the time-skipping server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
import structlog
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from api.common.settings import Settings
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from temporal.worker import build_worker
from tests.workflow.standins import (
    StandInIdentityActivities,
    always,
    first_attempts,
    non_retryable,
)
from workflows.search_index_types import DROP_TENANT_INDEX_ACTIVITY, TenantIndexRequest
from workflows.tenant_onboarding import STEP_RETRY, UNDO_RETRY
from workflows.tenant_onboarding_types import (
    SEARCH_INDEX_STEP,
    STEPS,
    TASK_QUEUE,
    WORKFLOW_NAME,
    NewOwner,
    NewTenant,
    OnboardingInput,
    OnboardingProgress,
    WelcomeEmail,
)

pytestmark = pytest.mark.workflow

UNDO_OF: dict[str, str] = {
    "create_tenant": "delete_tenant",
    "create_owner_user": "delete_user",
    "create_storage_prefix": "delete_storage_prefix",
    SEARCH_INDEX_STEP: DROP_TENANT_INDEX_ACTIVITY,
}
"""The compensation of each step that has one (a sent email cannot be recalled)."""


def onboarding_input(slug: str, search_task_queue: str, locale: str = "pt_BR") -> OnboardingInput:
    return OnboardingInput(
        tenant_name="Acme Ltda",
        slug=slug,
        admin_email=f"owner@{slug}.example",
        admin_password_hash="$argon2id$v=19$m=1024,t=1,p=1$stand-in$hash",
        admin_full_name="Ana Souza",
        locale=locale,
        search_task_queue=search_task_queue,
    )


@asynccontextmanager
async def onboarding(
    env: WorkflowEnvironment, standins: StandInIdentityActivities, slug: str | None = None
) -> AsyncIterator[WorkflowHandle[object, OnboardingProgress]]:
    """The real worker set-up (registry, sandbox, interceptors) with stand-in activities.

    The search index step is sent to the same test queue, where the stand-ins serve it too.
    """
    task_queue = f"onboarding-test-{uuid4()}"
    slug = slug or f"acme-{uuid4().hex[:8]}"
    worker = build_worker(TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins)
    async with worker, standins:  # the stand-ins let a blocked activity go before the worker drains
        handle: WorkflowHandle[object, OnboardingProgress] = await env.client.start_workflow(
            WORKFLOW_NAME,
            onboarding_input(slug, search_task_queue=task_queue),
            id=f"tenant-onboarding/{slug}",
            task_queue=task_queue,
            result_type=OnboardingProgress,
        )
        yield handle


async def progress_of(handle: WorkflowHandle[object, OnboardingProgress]) -> OnboardingProgress:
    progress: OnboardingProgress = await handle.query("progress", result_type=OnboardingProgress)
    return progress


async def test_every_step_runs_in_order_and_the_tenant_is_complete(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInIdentityActivities()
    async with onboarding(time_skipping_env, standins) as handle:
        result = await handle.result()
        queried = await progress_of(handle)

    assert standins.calls == list(STEPS)
    assert result.status == "COMPLETED"
    assert result.percent == 100
    assert result.completed_steps == list(STEPS)
    assert result.compensated_steps == []
    assert result.error is None
    assert result == queried
    tenant: NewTenant = standins.arguments["create_tenant"]
    owner: NewOwner = standins.arguments["create_owner_user"]
    email: WelcomeEmail = standins.arguments["send_welcome_email"]
    assert tenant.tenant_id == result.tenant_id == owner.tenant_id == email.tenant_id
    assert owner.user_id == result.owner_user_id == email.user_id
    assert tenant.domain == f"{tenant.slug}.mrbill.local"
    assert (tenant.default_locale, owner.locale, email.locale) == ("pt_BR", "pt_BR", "pt_BR")
    index: TenantIndexRequest = standins.arguments[SEARCH_INDEX_STEP]
    assert index.tenant_id == result.tenant_id


async def test_the_search_index_step_runs_on_the_search_task_queue(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Identity's worker never performs it: search's worker (here a stand-in) on its queue does."""
    identity_standins = StandInIdentityActivities()
    search_standins = StandInIdentityActivities(failures={SEARCH_INDEX_STEP: always("index refused")})
    identity_queue = f"onboarding-test-{uuid4()}"
    search_queue = f"indexing-test-{uuid4()}"
    slug = f"acme-{uuid4().hex[:8]}"
    identity_worker = build_worker(
        TASK_QUEUE,
        time_skipping_env.client,
        Settings(),
        task_queue=identity_queue,
        activities=identity_standins,
    )
    search_worker = build_worker(
        TASK_QUEUE, time_skipping_env.client, Settings(), task_queue=search_queue, activities=search_standins
    )
    async with identity_worker, search_worker, identity_standins, search_standins:
        handle: WorkflowHandle[object, OnboardingProgress] = await time_skipping_env.client.start_workflow(
            WORKFLOW_NAME,
            onboarding_input(slug, search_task_queue=search_queue),
            id=f"tenant-onboarding/{slug}",
            task_queue=identity_queue,
            result_type=OnboardingProgress,
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await progress_of(handle)

    assert search_standins.calls == [
        *[SEARCH_INDEX_STEP] * STEP_RETRY.maximum_attempts,
        DROP_TENANT_INDEX_ACTIVITY,
    ]
    assert identity_standins.calls == [
        "create_tenant",
        "create_owner_user",
        "create_storage_prefix",
        "delete_storage_prefix",
        "delete_user",
        "delete_tenant",
    ]
    assert progress.status == "COMPENSATED"
    assert progress.compensated_steps == [
        SEARCH_INDEX_STEP,
        "create_storage_prefix",
        "create_owner_user",
        "create_tenant",
    ]


@pytest.mark.parametrize("failing_step", STEPS)
async def test_a_failure_at_each_step_undoes_every_started_step_in_reverse(
    time_skipping_env: WorkflowEnvironment, failing_step: str
) -> None:
    """Retries are spent first; then the failed step's own undo runs too (it may have taken effect)."""
    position = STEPS.index(failing_step)
    standins = StandInIdentityActivities(
        failures={failing_step: always(f"injected failure at {failing_step}")}
    )
    async with onboarding(time_skipping_env, standins) as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle)

    started = STEPS[: position + 1]
    undone = [step for step in reversed(started) if step in UNDO_OF]
    attempts = [failing_step] * (STEP_RETRY.maximum_attempts - 1)
    assert standins.calls == [*started, *attempts, *(UNDO_OF[step] for step in undone)]
    assert progress.status == "COMPENSATED"
    assert progress.completed_steps == list(STEPS[:position])
    assert progress.compensated_steps == undone
    assert progress.percent == round(100 * position / len(STEPS))
    assert progress.error == f"{failing_step} failed: injected failure at {failing_step}"
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "OnboardingFailed"
    assert f"{failing_step} failed: injected failure at {failing_step}" in cause.message
    assert "every completed step was undone" in cause.message


async def test_a_taken_slug_fails_at_once_and_undoes_nothing(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInIdentityActivities(
        failures={"create_tenant": non_retryable("SlugTaken", "the slug 'acme' is already taken")}
    )
    async with onboarding(time_skipping_env, standins) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await progress_of(handle)

    assert standins.calls == ["create_tenant"]
    assert progress.compensated_steps == []
    assert progress.completed_steps == []
    assert progress.tenant_id is None
    assert progress.status == "COMPENSATED"
    assert progress.error == "create_tenant failed: the slug 'acme' is already taken"


async def test_a_transient_failure_is_retried_with_backoff_and_the_saga_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInIdentityActivities(
        failures={"create_storage_prefix": first_attempts(2, "storage briefly unavailable")}
    )
    async with onboarding(time_skipping_env, standins) as handle:
        result = await handle.result()

    assert standins.calls.count("create_storage_prefix") == 3
    assert "delete_storage_prefix" not in standins.calls
    assert result.status == "COMPLETED"


async def test_a_failing_undo_does_not_stop_the_others_and_the_saga_reports_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInIdentityActivities(
        failures={
            "create_storage_prefix": always("disk full"),
            "delete_user": always("database unreachable"),
        }
    )
    async with onboarding(time_skipping_env, standins) as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle)

    undos = [call for call in standins.calls if call.startswith("delete_")]
    assert undos == [
        "delete_storage_prefix",
        *["delete_user"] * UNDO_RETRY.maximum_attempts,
        "delete_tenant",
    ]
    assert progress.status == "FAILED"
    assert progress.compensated_steps == ["create_storage_prefix", "create_tenant"]
    assert progress.error is not None
    assert "undo incomplete: delete_user failed: database unreachable" in progress.error
    assert isinstance(failure.value.cause, ApplicationError)
    assert "some steps could not be undone" in failure.value.cause.message


async def test_cancellation_midway_undoes_every_started_step(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInIdentityActivities(block_at="create_storage_prefix")
    async with onboarding(time_skipping_env, standins) as handle:
        await asyncio.wait_for(standins.blocked.wait(), timeout=30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await progress_of(handle)

    assert isinstance(failure.value.cause, CancelledError)
    assert standins.calls == [
        "create_tenant",
        "create_owner_user",
        "create_storage_prefix",
        "delete_storage_prefix",
        "delete_user",
        "delete_tenant",
    ]
    assert progress.status == "COMPENSATED"
    assert progress.completed_steps == ["create_tenant", "create_owner_user"]
    assert progress.compensated_steps == ["create_storage_prefix", "create_owner_user", "create_tenant"]
    assert progress.error == "cancelled during create_storage_prefix"


async def test_progress_query_reports_the_running_step(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInIdentityActivities(block_at="send_welcome_email")
    async with onboarding(time_skipping_env, standins) as handle:
        await asyncio.wait_for(standins.blocked.wait(), timeout=30)
        running = await progress_of(handle)
        standins.release.set()
        finished = await handle.result()

    assert running.status == "RUNNING"
    assert running.current_step == "send_welcome_email"
    assert running.percent == round(100 * 4 / len(STEPS))
    assert running.completed_steps == [
        "create_tenant",
        "create_owner_user",
        "create_storage_prefix",
        SEARCH_INDEX_STEP,
    ]
    assert running.tenant_id is not None
    assert running.owner_user_id is not None
    assert running.error is None
    assert finished.status == "COMPLETED"
    assert finished.current_step is None


async def test_search_attributes_name_the_tenant_owner_and_request_type(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInIdentityActivities()
    async with onboarding(time_skipping_env, standins) as handle:
        result = await handle.result()
        description = await handle.describe()

    attributes = description.typed_search_attributes
    assert attributes.get(TENANT_ID) == result.tenant_id
    assert attributes.get(USER_ID) == result.owner_user_id
    assert attributes.get(REQUEST_TYPE) == "TENANT_ONBOARDING"


async def test_activity_log_lines_carry_the_tenant_and_workflow(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInIdentityActivities()
    async with onboarding(time_skipping_env, standins) as handle:
        result = await handle.result()

    context = standins.log_contexts["create_owner_user"]
    assert context["tenant_id"] == result.tenant_id
    assert context["workflow_id"] == handle.id
    assert context["activity"] == "create_owner_user"
    assert context["attempt"] == 1
    assert structlog.contextvars.get_contextvars().get("tenant_id") is None, "unbound after the activity"
