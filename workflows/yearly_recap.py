"""YearlyRecap: once a year, one YearlyVideo per active person with POCs in the year before.

Started by the Temporal Schedule ``yearly-recap`` (every 2 January), by its "trigger" in the
Temporal UI, or by hand through ``POST /v1/videos/yearly-recaps`` for one tenant or all. It
walks catalog's (tenant, person) pairs with POCs that year in keyset pages; for each person
identity says is ACTIVE it asks content for the person's recap request (idempotent by the
Idempotency-Key ``yearly-recap-{year}``, counted against the plan's videos per year: a used
quota is skipped and logged) and starts its YearlyVideo child under the request's
deterministic id. Children are abandoned when this run closes (ParentClosePolicy ABANDON), so
a recap never kills the videos it started; the id's reuse policy rejects a second start, so
running twice never makes a second video. At most ``max_concurrent`` children render at
once, and after ``children_per_run`` children (or when Temporal suggests it) the run
continues as new with its cursor, so the history of a huge tenant stays small.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.yearly_recap_types import (
        CREATE_RECAP_REQUEST_ACTIVITY,
        READ_RECAP_PROFILE_ACTIVITY,
        RECAP_OWNERS_PAGE_ACTIVITY,
        RECAP_TIME_ZONE,
        RecapInput,
        RecapOwner,
        RecapOwnersPage,
        RecapOwnersRequest,
        RecapProfile,
        RecapProfileRequest,
        RecapRequestInput,
        RecapRequestOutcome,
        RecapTotals,
    )
    from workflows.yearly_video_types import (
        RECAP_WORKFLOW_NAME,
        VIDEO_REQUEST_TYPE,
        WORKFLOW_NAME,
        VideoJob,
        video_workflow_id,
    )

ACTIVITY_TIMEOUT = timedelta(minutes=1)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)


@workflow.defn(name=RECAP_WORKFLOW_NAME)
class YearlyRecap:
    def __init__(self) -> None:
        self._totals = RecapTotals()
        self._running = 0
        self._watchers: list[asyncio.Task[None]] = []

    @workflow.query(name="progress")
    def progress(self) -> RecapTotals:
        return self._totals

    @workflow.run
    async def run(self, recap: RecapInput) -> RecapTotals:
        totals = self._totals = recap.carried or RecapTotals()
        year = recap.year or workflow.now().year - 1
        after_tenant, after_user = recap.after_tenant_id, recap.after_user_id
        started_here = 0
        while True:
            page: RecapOwnersPage = await workflow.execute_activity(
                RECAP_OWNERS_PAGE_ACTIVITY,
                RecapOwnersRequest(
                    year=year,
                    time_zone=RECAP_TIME_ZONE,
                    after_tenant_id=after_tenant,
                    after_user_id=after_user,
                    limit=recap.page_size,
                    tenant_ids=recap.tenant_ids,
                ),
                result_type=RecapOwnersPage,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            totals.pages += 1
            for owner in page.items:
                totals.owners += 1
                if await self._recap(recap, year, owner):
                    started_here += 1
            if not page.has_more or not page.items:
                await self._drain()
                workflow.logger.info("yearly recap %s done: %s", year, totals)
                return totals
            after_tenant, after_user = page.items[-1].tenant_id, page.items[-1].user_id
            if started_here >= recap.children_per_run or workflow.info().is_continue_as_new_suggested():
                await self._drain()
                workflow.continue_as_new(
                    RecapInput(
                        year=year,
                        tenant_ids=recap.tenant_ids,
                        page_size=recap.page_size,
                        max_concurrent=recap.max_concurrent,
                        children_per_run=recap.children_per_run,
                        after_tenant_id=after_tenant,
                        after_user_id=after_user,
                        carried=totals,
                    )
                )

    async def _recap(self, recap: RecapInput, year: int, owner: RecapOwner) -> bool:
        """The person's request and YearlyVideo child; True when a child was started."""
        totals = self._totals
        profile: RecapProfile = await workflow.execute_activity(
            READ_RECAP_PROFILE_ACTIVITY,
            RecapProfileRequest(tenant_id=owner.tenant_id, user_id=owner.user_id),
            result_type=RecapProfile,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        if not profile.active:
            totals.skipped_inactive += 1
            return False
        outcome: RecapRequestOutcome = await workflow.execute_activity(
            CREATE_RECAP_REQUEST_ACTIVITY,
            RecapRequestInput(
                tenant_id=owner.tenant_id,
                user_id=owner.user_id,
                year=year,
                locale=profile.locale,
                plan=profile.plan,
            ),
            result_type=RecapRequestOutcome,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        if outcome.status == "quota":
            totals.skipped_quota += 1
            workflow.logger.info(
                "recap of %s/%s skipped: the plan's videos of the year are used",
                owner.tenant_id,
                owner.user_id,
            )
            return False
        if outcome.job is None:
            totals.already_requested += 1
            return False
        await workflow.wait_condition(lambda: self._running < max(1, recap.max_concurrent))
        return await self._start_child(outcome.job)

    async def _start_child(self, job: VideoJob) -> bool:
        try:
            handle = await workflow.start_child_workflow(
                WORKFLOW_NAME,
                job,
                id=video_workflow_id(job.tenant_id, job.request_id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID, job.tenant_id),
                        SearchAttributePair(USER_ID, job.user_id),
                        SearchAttributePair(REQUEST_TYPE, VIDEO_REQUEST_TYPE),
                    ]
                ),
                static_summary=f"{job.format}: {job.title}",
            )
        except WorkflowAlreadyStartedError:
            self._totals.already_requested += 1
            return False
        self._totals.started += 1
        self._running += 1

        async def watch() -> None:
            try:
                await handle
            except ChildWorkflowError:
                self._totals.failed += 1
            finally:
                self._running -= 1

        self._watchers.append(asyncio.create_task(watch()))
        return True

    async def _drain(self) -> None:
        """Every child started by this run has ended (they would survive it, but the bound would not)."""
        await workflow.wait_condition(lambda: self._running == 0)
        self._watchers.clear()
