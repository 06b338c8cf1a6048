"""YearlyRecap on the time-skipping server, with stand-in activities and a stand-in YearlyVideo child;
and the real recap activities on the session's PostgreSQL.

The stand-ins (named so) keep their state in this process: catalog's owners as a sorted list
paged by keyset, identity's profiles, content's requests keyed like the real idempotency key,
and the children's enter/leave calls, from which the test reads how many ran at once. The
schedule itself is checked on the session's dev server (the time-skipping server has none).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from piccolo.engine.postgres import PostgresEngine
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowExecutionStatus,
)
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.recap import RECAP_SCHEDULE_TIME_ZONE, RecapActivities, ensure_recap_schedule
from api.catalog import repository as catalog_repository
from api.catalog.piccolo_conf import build_engine as catalog_engine
from api.catalog.repository import NewPoc
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.identity import onboarding
from infra.database import migrate
from temporal.client import connect_client
from temporal.worker import WORKFLOW_SANDBOX
from workflows.yearly_recap import YearlyRecap
from workflows.yearly_recap_types import (
    CREATE_RECAP_REQUEST_ACTIVITY,
    READ_RECAP_PROFILE_ACTIVITY,
    RECAP_OWNERS_PAGE_ACTIVITY,
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
    TASK_QUEUE,
    WORKFLOW_NAME,
    VideoJob,
    recap_workflow_id,
    video_workflow_id,
    yearly_request_idempotency_key,
)

pytestmark = pytest.mark.workflow

YEAR = 2025
RENDER_TIME = timedelta(minutes=10)


@dataclass
class StandInPlatform:
    """Catalog, identity and content as the recap sees them, plus what the children did."""

    owners: list[RecapOwner] = field(default_factory=list)
    inactive: set[str] = field(default_factory=set)
    quota_used: set[str] = field(default_factory=set)
    requests: dict[tuple[str, str, str], str] = field(default_factory=dict)
    pages_asked: list[RecapOwnersRequest] = field(default_factory=list)
    rendering: int = 0
    most_at_once: int = 0
    rendered: list[str] = field(default_factory=list)

    def add_owner(self, tenant_id: str) -> RecapOwner:
        owner = RecapOwner(tenant_id=tenant_id, user_id=str(uuid.uuid4()), poc_count=3)
        self.owners.append(owner)
        self.owners.sort(key=lambda item: (item.tenant_id, item.user_id))
        return owner

    @activity.defn(name=RECAP_OWNERS_PAGE_ACTIVITY)
    async def list_recap_owners(self, request: RecapOwnersRequest) -> RecapOwnersPage:
        self.pages_asked.append(request)
        bound = (request.after_tenant_id or "", request.after_user_id or "")
        matching = [
            owner
            for owner in self.owners
            if (owner.tenant_id, owner.user_id) > bound
            and (not request.tenant_ids or owner.tenant_id in request.tenant_ids)
        ]
        return RecapOwnersPage(items=matching[: request.limit], has_more=len(matching) > request.limit)

    @activity.defn(name=READ_RECAP_PROFILE_ACTIVITY)
    async def read_recap_profile(self, request: RecapProfileRequest) -> RecapProfile:
        return RecapProfile(active=request.user_id not in self.inactive, locale="pt_BR", plan="PRO")

    @activity.defn(name=CREATE_RECAP_REQUEST_ACTIVITY)
    async def create_recap_request(self, request: RecapRequestInput) -> RecapRequestOutcome:
        key = (request.tenant_id, request.user_id, yearly_request_idempotency_key(request.year))
        existing = key in self.requests
        if not existing and request.user_id in self.quota_used:
            return RecapRequestOutcome(status="quota")
        request_id = self.requests.setdefault(key, str(uuid.uuid4()))
        job = VideoJob(
            request_id=request_id,
            tenant_id=request.tenant_id,
            user_id=request.user_id,
            title=f"Meu ano em POCs {request.year}",
            format="square",
            style="aurora",
            music_track="bright",
            locale=request.locale or "pt_BR",
            year=request.year,
        )
        # An existing request hands its job back too, as the real one does while it is PENDING:
        # the child's id reuse policy is what keeps a second run from rendering it again.
        return RecapRequestOutcome(
            status="existing" if existing else "created",
            request_id=request_id,
            workflow_id=video_workflow_id(request.tenant_id, request_id),
            job=job,
        )

    @activity.defn(name="standin.enter_render")
    async def enter_render(self, request_id: str) -> None:
        self.rendering += 1
        self.most_at_once = max(self.most_at_once, self.rendering)
        self.rendered.append(request_id)

    @activity.defn(name="standin.leave_render")
    async def leave_render(self, request_id: str) -> None:
        self.rendering -= 1

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.list_recap_owners,
            self.read_recap_profile,
            self.create_recap_request,
            self.enter_render,
            self.leave_render,
        ]


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class StandInYearlyVideo:
    """Stand-in of YearlyVideo: "renders" for ten (skipped) minutes between two recorded calls.

    Unsandboxed (it lives in this module, which the sandbox would re-import); YearlyRecap itself
    runs in the production sandbox.
    """

    @workflow.run
    async def run(self, job: VideoJob) -> str:
        timeout = timedelta(seconds=30)
        await workflow.execute_activity(
            "standin.enter_render", job.request_id, start_to_close_timeout=timeout
        )
        await workflow.sleep(RENDER_TIME)
        await workflow.execute_activity(
            "standin.leave_render", job.request_id, start_to_close_timeout=timeout
        )
        return job.request_id


@asynccontextmanager
async def recap_worker(client: Client, platform: StandInPlatform) -> AsyncIterator[str]:
    task_queue = f"recap-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[YearlyRecap, StandInYearlyVideo],
        activities=platform.activities(),
        workflow_runner=WORKFLOW_SANDBOX,
    ):
        yield task_queue


async def _run(client: Client, task_queue: str, recap: RecapInput, workflow_id: str) -> RecapTotals:
    result: RecapTotals = await client.execute_workflow(
        RECAP_WORKFLOW_NAME, recap, id=workflow_id, task_queue=task_queue, result_type=RecapTotals
    )
    return result


async def test_every_active_owner_gets_one_video_with_bounded_concurrency(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    platform = StandInPlatform()
    tenants = sorted(str(uuid.uuid4()) for _ in range(2))
    owners = [platform.add_owner(tenants[index % 2]) for index in range(9)]
    sleeper, spent = owners[1], owners[2]
    platform.inactive.add(sleeper.user_id)
    platform.quota_used.add(spent.user_id)
    workflow_id = f"{recap_workflow_id(YEAR, None)}/{uuid.uuid4().hex[:6]}"

    async with recap_worker(client, platform) as task_queue:
        recap = RecapInput(year=YEAR, tenant_ids=tenants, page_size=2, max_concurrent=3, children_per_run=4)
        first_run = await client.start_workflow(
            RECAP_WORKFLOW_NAME, recap, id=workflow_id, task_queue=task_queue, result_type=RecapTotals
        )
        totals = await first_run.result()

        assert totals.owners == 9
        assert totals.started == 7
        assert (totals.skipped_inactive, totals.skipped_quota, totals.failed) == (1, 1, 0)
        assert totals.pages == 5, "nine owners in pages of two"
        assert sorted(platform.rendered) == sorted(platform.requests.values())
        assert len(platform.rendered) == 7
        assert platform.most_at_once == 3, "never more children than max_concurrent"
        assert platform.rendering == 0
        first = client.get_workflow_handle(workflow_id, run_id=first_run.result_run_id)
        assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        cursors = [(page.after_tenant_id, page.after_user_id) for page in platform.pages_asked]
        assert len(set(cursors)) == len(cursors), "each page is asked once, across continue-as-new"
        assert all(page.year == YEAR for page in platform.pages_asked)

        again = await _run(client, task_queue, recap, f"{workflow_id}/again")

        assert again.started == 0, "a second run never duplicates a video"
        assert again.already_requested == 7
        assert len(platform.rendered) == 7
        assert len(platform.requests) == 7, "one request per person and year"
        video_ids = {
            video_workflow_id(tenant, request) for (tenant, _, _), request in platform.requests.items()
        }
        for video_id in video_ids:
            described = await client.get_workflow_handle(video_id).describe()
            assert described.status == WorkflowExecutionStatus.COMPLETED


async def test_one_tenant_only_and_the_year_before_by_default(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    platform = StandInPlatform()
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    platform.add_owner(mine)
    platform.add_owner(other)

    async with recap_worker(client, platform) as task_queue:
        handle = await client.start_workflow(
            RECAP_WORKFLOW_NAME,
            RecapInput(tenant_ids=[mine]),
            id=f"recap-test/{uuid.uuid4()}",
            task_queue=task_queue,
            result_type=RecapTotals,
        )
        totals = await handle.result()

    assert (totals.owners, totals.started) == (1, 1)
    assert [tenant for tenant, _, _ in platform.requests] == [mine]
    started_at = (await handle.describe()).start_time
    assert {page.year for page in platform.pages_asked} == {started_at.year - 1}, "the year before the run's"


async def test_the_schedule_runs_on_the_second_of_january(stack_settings: Settings) -> None:
    client = await connect_client(stack_settings)
    schedule_id = f"yearly-recap-test-{uuid.uuid4()}"
    try:
        assert await ensure_recap_schedule(client, schedule_id=schedule_id)
        described = await client.get_schedule_handle(schedule_id).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == RECAP_WORKFLOW_NAME
        assert action.task_queue == TASK_QUEUE
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert described.schedule.spec.time_zone_name == RECAP_SCHEDULE_TIME_ZONE
        upcoming = described.info.next_action_times
        assert upcoming, "the schedule has a next run"
        next_run = upcoming[0].astimezone(UTC)
        assert (next_run.month, next_run.day, next_run.hour) == (1, 2, 9), "06:00 in São Paulo (UTC-3)"
        assert next_run > datetime.now(UTC)
        assert next_run - datetime.now(UTC) <= timedelta(days=366)

        assert not await ensure_recap_schedule(client, schedule_id=schedule_id, task_queue="video-elsewhere")
        updated = await client.get_schedule_handle(schedule_id).describe()
        moved = updated.schedule.action
        assert isinstance(moved, ScheduleActionStartWorkflow)
        assert moved.task_queue == "video-elsewhere"
    finally:
        await client.get_schedule_handle(schedule_id).delete()


async def _tenant_with_owner(settings: Settings, plan: str) -> tuple[str, str]:
    """A tenant and its ACTIVE owner as identity creates them (identity's application role)."""
    engine = PostgresEngine(config={"dsn": settings.database_url("identity")}, log_queries=False)
    tenant_id, user_id, slug = str(uuid.uuid4()), str(uuid.uuid4()), f"recap-{uuid.uuid4().hex[:10]}"
    await onboarding.create_pending_tenant(
        engine,
        tenant_id=tenant_id,
        name=slug,
        slug=slug,
        domain=f"{slug}.example",
        plan=plan,
        default_locale="en",
    )
    await onboarding.activate_tenant(engine, tenant_id)
    await onboarding.create_owner(
        engine,
        tenant_id=tenant_id,
        user_id=user_id,
        email=f"{slug}@example.com",
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$recap",
        full_name="Rita Recap",
        locale="pt_BR",
    )
    return tenant_id, user_id


async def _pocs(settings: Settings, tenant_id: str, user_id: str, *moments: tuple[datetime, bool]) -> None:
    pocs = [
        NewPoc(
            tenant_id=uuid.UUID(tenant_id),
            user_id=uuid.UUID(user_id),
            name=f"POC {index}",
            repository_url=f"https://example.com/{index}",
            poc_id=uuid.uuid4(),
            created_at=created_at,
            updated_at=created_at,
            deleted_at=created_at if deleted else None,
        )
        for index, (created_at, deleted) in enumerate(moments)
    ]
    async with tenant_transaction(catalog_engine(settings), tenant_id) as transaction:
        await catalog_repository.bulk_insert_pocs(transaction.connection, pocs)


async def test_the_real_activities_list_check_and_request_once(stack_settings: Settings) -> None:
    for service in ("identity", "catalog", "content"):
        await migrate(stack_settings, service)
    tenant_id, owner_id = await _tenant_with_owner(stack_settings, "PRO")
    colleague, deleted_only = str(uuid.uuid4()), str(uuid.uuid4())
    in_year = datetime(YEAR, 6, 1, 12, tzinfo=UTC)
    await _pocs(
        stack_settings, tenant_id, owner_id, (in_year, False), (datetime(YEAR, 12, 31, 23, tzinfo=UTC), False)
    )
    await _pocs(stack_settings, tenant_id, colleague, (datetime(YEAR - 1, 12, 31, 12, tzinfo=UTC), False))
    await _pocs(stack_settings, tenant_id, deleted_only, (in_year, True))
    free_tenant, free_owner = await _tenant_with_owner(stack_settings, "FREE")
    await _pocs(stack_settings, free_tenant, free_owner, (in_year, False))
    env = ActivityEnvironment()

    async with RecapActivities.from_settings(stack_settings) as recap:
        page = await env.run(
            recap.list_recap_owners,
            RecapOwnersRequest(
                year=YEAR,
                time_zone="America/Sao_Paulo",
                after_tenant_id=None,
                after_user_id=None,
                limit=10,
                tenant_ids=[tenant_id],
            ),
        )
        assert page.items == [RecapOwner(tenant_id=tenant_id, user_id=owner_id, poc_count=2)], (
            "31 December 23:00 UTC is still the year in São Paulo; deleted POCs and other years do not count"
        )
        assert not page.has_more

        profile = await env.run(recap.read_recap_profile, RecapProfileRequest(tenant_id, owner_id))
        assert profile == RecapProfile(active=True, locale="pt_BR", plan="PRO")
        unknown = await env.run(recap.read_recap_profile, RecapProfileRequest(tenant_id, str(uuid.uuid4())))
        assert not unknown.active

        ask = RecapRequestInput(tenant_id=tenant_id, user_id=owner_id, year=YEAR, locale="pt_BR", plan="PRO")
        first = await env.run(recap.create_recap_request, ask)
        assert first.status == "created"
        assert first.job is not None
        assert (first.job.year, first.job.title) == (YEAR, f"Meu ano em POCs {YEAR}")
        assert first.workflow_id == video_workflow_id(tenant_id, first.job.request_id)
        again = await env.run(recap.create_recap_request, dataclasses.replace(ask, locale="en"))
        assert (again.status, again.request_id) == ("existing", first.request_id), "one request per year"

        free_ask = RecapRequestInput(tenant_id=free_tenant, user_id=free_owner, year=YEAR, plan="FREE")
        assert (await env.run(recap.create_recap_request, free_ask)).status == "created"
        other_year = dataclasses.replace(free_ask, year=YEAR - 1)
        assert (await env.run(recap.create_recap_request, other_year)).status == "quota", (
            "the free plan's one video of this calendar year is used"
        )
