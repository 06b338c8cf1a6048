"""TenantOnboarding: a saga that creates a tenant, its owner, storage and welcome mail, then activates it.

Each step registers its compensation before it runs, because a step can take effect and
still be reported as failed (a worker lost after the commit, a timeout). On a failure, once
the activity's retries are spent, or on cancellation, every registered compensation runs in
reverse order, shielded from further cancellation, and the workflow fails with the reason.
Compensations are idempotent, so undoing a step that never took effect is harmless. Only a
non-retryable error that says nothing was written (a taken slug) drops the step's own undo.

The ids of the tenant and the owner are drawn here, deterministically, so that a retried
create and its compensation always name the same rows.

The tenant's search index is created by search's worker, on its own task queue, after the
storage prefix. That step came later than the others: it is guarded by `workflow.patched`, so
an onboarding recorded without it still replays (and finishes without it).

Progress (the "progress" query): RUNNING while steps run; FAILED from the failure on, until
every compensation has run; COMPENSATED when all of them succeeded (nothing is left behind);
COMPLETED on success.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.failures import describe_failure
    from workflows.search_index_types import DROP_TENANT_INDEX_ACTIVITY, TenantIndexRequest
    from workflows.tenant_onboarding_types import (
        NOTHING_DONE_ERROR_TYPES,
        SEARCH_INDEX_PATCH,
        SEARCH_INDEX_STEP,
        STEPS,
        STEPS_BEFORE_SEARCH_INDEX,
        WORKFLOW_NAME,
        NewOwner,
        NewTenant,
        OnboardingInput,
        OnboardingProgress,
        TenantRef,
        TenantStoragePrefix,
        UserRef,
        WelcomeEmail,
        WelcomeEmailReceipt,
        default_domain,
    )
    from workflows.tenant_onboarding_types import REQUEST_TYPE as ONBOARDING_REQUEST_TYPE

STEP_TIMEOUT = timedelta(seconds=30)
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
UNDO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)
"""Undos are idempotent and must not give up easily: a leftover tenant blocks its slug."""


@dataclass
class _Compensation:
    step: str
    activity: str
    argument: Any
    task_queue: str | None = None


def _nothing_was_done(error: ActivityError) -> bool:
    cause = error.cause
    return (
        isinstance(cause, ApplicationError) and cause.non_retryable and cause.type in NOTHING_DONE_ERROR_TYPES
    )


@workflow.defn(name=WORKFLOW_NAME)
class TenantOnboarding:
    def __init__(self) -> None:
        self._progress = OnboardingProgress()
        self._compensations: list[_Compensation] = []
        self._steps: tuple[str, ...] = STEPS

    @workflow.query(name="progress")
    def progress(self) -> OnboardingProgress:
        return self._progress

    @workflow.run
    async def run(self, request: OnboardingInput) -> OnboardingProgress:
        workflow.upsert_search_attributes([REQUEST_TYPE.value_set(ONBOARDING_REQUEST_TYPE)])
        with_search_index = workflow.patched(SEARCH_INDEX_PATCH)
        self._steps = STEPS if with_search_index else STEPS_BEFORE_SEARCH_INDEX
        tenant_id = str(workflow.uuid4())
        user_id = str(workflow.uuid4())
        try:
            await self._step(
                "create_tenant",
                NewTenant(
                    tenant_id=tenant_id,
                    name=request.tenant_name,
                    slug=request.slug,
                    domain=request.domain or default_domain(request.slug),
                    plan=request.plan,
                    default_locale=request.locale,
                ),
                undo=("delete_tenant", TenantRef(tenant_id=tenant_id)),
            )
            self._progress.tenant_id = tenant_id
            workflow.upsert_search_attributes([TENANT_ID.value_set(tenant_id)])

            await self._step(
                "create_owner_user",
                NewOwner(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    email=request.admin_email,
                    password_hash=request.admin_password_hash,
                    full_name=request.admin_full_name,
                    locale=request.locale,
                ),
                undo=("delete_user", UserRef(tenant_id=tenant_id, user_id=user_id)),
            )
            self._progress.owner_user_id = user_id
            workflow.upsert_search_attributes([USER_ID.value_set(user_id)])

            await self._step(
                "create_storage_prefix",
                TenantStoragePrefix(
                    tenant_id=tenant_id, tenant_name=request.tenant_name, locale=request.locale
                ),
                undo=("delete_storage_prefix", TenantStoragePrefix(tenant_id=tenant_id)),
            )
            if with_search_index:
                await self._step(
                    SEARCH_INDEX_STEP,
                    TenantIndexRequest(tenant_id=tenant_id),
                    undo=(DROP_TENANT_INDEX_ACTIVITY, TenantIndexRequest(tenant_id=tenant_id)),
                    task_queue=request.search_task_queue,
                )
            # No undo: a sent email cannot be recalled. The mailer's idempotency key keeps a
            # retried send from delivering it twice.
            await self._step(
                "send_welcome_email",
                WelcomeEmail(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    tenant_name=request.tenant_name,
                    slug=request.slug,
                    email=request.admin_email,
                    full_name=request.admin_full_name,
                    locale=request.locale,
                ),
                result_type=WelcomeEmailReceipt,
            )
            await self._step("activate_tenant", TenantRef(tenant_id=tenant_id))
        except (ActivityError, asyncio.CancelledError) as error:
            step = self._progress.current_step or STEPS[0]
            cancelled = is_cancelled_exception(error)
            reason = f"cancelled during {step}" if cancelled else f"{step} failed: {describe_failure(error)}"
            self._progress.status = "FAILED"
            self._progress.error = reason
            workflow.logger.warning("onboarding of %r %s; undoing completed steps", request.slug, reason)
            await self._undo_shielded()
            if cancelled:
                raise
            outcome = (
                "every completed step was undone"
                if self._progress.status == "COMPENSATED"
                else "some steps could not be undone"
            )
            raise ApplicationError(
                f"Tenant onboarding of {request.slug!r} failed: {self._progress.error}; {outcome}",
                type="OnboardingFailed",
                non_retryable=True,
            ) from error

        self._progress.status = "COMPLETED"
        self._progress.current_step = None
        return self._progress

    async def _step(
        self,
        name: str,
        argument: Any,
        *,
        undo: tuple[str, Any] | None = None,
        result_type: type | None = None,
        task_queue: str | None = None,
    ) -> Any:
        """`task_queue`: another service's worker performs this step (and its undo)."""
        self._progress.current_step = name
        if undo is not None:
            self._compensations.append(
                _Compensation(step=name, activity=undo[0], argument=undo[1], task_queue=task_queue)
            )
        try:
            result = await workflow.execute_activity(
                name,
                argument,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
                result_type=result_type,
                task_queue=task_queue,
            )
        except ActivityError as error:
            if undo is not None and _nothing_was_done(error):
                self._compensations.pop()
            raise
        self._progress.completed_steps.append(name)
        self._progress.percent = round(100 * len(self._progress.completed_steps) / len(self._steps))
        return result

    async def _undo_shielded(self) -> None:
        """Run the compensations to the end even if the workflow is cancelled meanwhile."""
        undo = asyncio.ensure_future(self._undo())
        while True:
            try:
                await asyncio.shield(undo)
                return
            except asyncio.CancelledError:
                if undo.cancelled():
                    raise
                workflow.logger.warning("cancellation ignored while compensations run")

    async def _undo(self) -> None:
        failures: list[str] = []
        while self._compensations:
            compensation = self._compensations.pop()
            try:
                await workflow.execute_activity(
                    compensation.activity,
                    compensation.argument,
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=UNDO_RETRY,
                    task_queue=compensation.task_queue,
                )
            except ActivityError as error:
                failures.append(f"{compensation.activity} failed: {describe_failure(error)}")
                workflow.logger.error("compensation %s failed: %s", compensation.activity, error)
                continue
            self._progress.compensated_steps.append(compensation.step)
        if failures:
            self._progress.error = f"{self._progress.error}; undo incomplete: {'; '.join(failures)}"
        else:
            self._progress.status = "COMPENSATED"
