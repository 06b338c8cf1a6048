"""The yearly recap's activities and its schedule.

The activities read and write each service's data as that service's application role, through
its own repository: catalog lists the (tenant, person) pairs with POCs in the year (platform
scope, like the reconciliation's listing), identity says whether the person is ACTIVE and on
which plan, and content creates the person's recap request under the idempotency key of the
year, counted against the plan's videos per year.

The schedule is created, or brought up to date, by the video worker at start. Once a year
(2 January, 06:00 in São Paulo, after everyone's New Year) the schedule starts
YearlyRecap without a year, which makes the recap of the year before. Its overlap policy
skips a start while the previous run still goes on, and the "trigger" button of the Temporal
UI starts the same run by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from uuid import UUID
from zoneinfo import ZoneInfo

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.catalog import repository as catalog_repository
from api.catalog.piccolo_conf import build_engine as build_catalog_engine
from api.common.i18n import register_catalog_dir
from api.common.settings import Settings
from api.common.storage import local_blob_storage
from api.common.tenancy import platform_transaction, tenant_transaction
from api.content import service as content_service
from api.content.piccolo_conf import build_engine as build_content_engine
from api.content.queue import ContentQueue
from api.content.service import Actor, VideoService, video_job
from api.content.unit_of_work import UnitOfWork, unit_of_work
from api.identity import repository as identity_repository
from api.identity.database import identity_database
from temporal.search_attributes import REQUEST_TYPE
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
)
from workflows.yearly_video_types import RECAP_SCHEDULE_ID, RECAP_WORKFLOW_NAME, TASK_QUEUE

RECAP_SCHEDULE_TIME_ZONE = "America/Sao_Paulo"
RECAP_REQUEST_TYPE = "YEARLY_RECAP"


def recap_schedule(*, task_queue: str = TASK_QUEUE) -> Schedule:
    """2 January, 06:00 in São Paulo, every year: the recap of the year that has just ended."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECAP_WORKFLOW_NAME,
            RecapInput(),
            id=RECAP_SCHEDULE_ID,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(REQUEST_TYPE, RECAP_REQUEST_TYPE)]
            ),
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(1)],
                    day_of_month=[ScheduleRange(2)],
                    hour=[ScheduleRange(6)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment="the recap of the year that has just ended",
                )
            ],
            time_zone_name=RECAP_SCHEDULE_TIME_ZONE,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_recap_schedule(
    client: Client, *, task_queue: str = TASK_QUEUE, schedule_id: str = RECAP_SCHEDULE_ID
) -> bool:
    """Create the yearly recap's schedule, or bring an existing one up to date; True when created."""
    schedule = recap_schedule(task_queue=task_queue)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return False
    return True


MAX_OWNERS_PAGE = 1000
CONTENT_LOCALE_DIR = Path(content_service.__file__).parent / "locale"
"""Content's catalog: the recap's default title ("Meu ano em POCs 2025") is content's words."""

register_catalog_dir(CONTENT_LOCALE_DIR)


def _optional_uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


class RecapActivities:
    """The recap's reads and writes on catalog, identity and content, one engine (and pool) each."""

    def __init__(self, settings: Settings, *, pool_min: int = 1, pool_max: int = 5) -> None:
        self.settings = settings
        self.catalog: PostgresEngine = build_catalog_engine(settings)
        self.content: PostgresEngine = build_content_engine(settings)
        self._pool_size = (pool_min, pool_max)
        self._stack: AsyncExitStack | None = None
        self.identity_engine: Any = None

        def work(tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
            return unit_of_work(self.content, tenant_id)

        # The queue is never asked anything here: the workflow starts the runs itself.
        self.videos = VideoService(settings, work, ContentQueue(settings), local_blob_storage(settings))

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings, pool_min=settings.db_pool_min, pool_max=settings.db_pool_max)

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            for engine in (self.catalog, self.content):
                await engine.start_connection_pool(min_size=self._pool_size[0], max_size=self._pool_size[1])
                stack.push_async_callback(engine.close_connection_pool)
            database = await stack.enter_async_context(identity_database(self.settings))
            self.identity_engine = database.engine
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.list_recap_owners, self.read_recap_profile, self.create_recap_request]

    @asynccontextmanager
    async def _identity(self) -> AsyncIterator[Any]:
        if self.identity_engine is not None:
            yield self.identity_engine
            return
        async with identity_database(self.settings) as database:  # a worker that did not open us
            yield database.engine

    @activity.defn(name=RECAP_OWNERS_PAGE_ACTIVITY)
    async def list_recap_owners(self, request: RecapOwnersRequest) -> RecapOwnersPage:
        """One keyset page of the (tenant, person) pairs with POCs created in the year, across tenants."""
        zone = ZoneInfo(request.time_zone)
        async with platform_transaction(self.catalog) as transaction:
            rows, has_more = await catalog_repository.recap_owners_page(
                transaction.connection,
                created_from=datetime(request.year, 1, 1, tzinfo=zone),
                created_to=datetime(request.year + 1, 1, 1, tzinfo=zone),
                after_tenant_id=_optional_uuid(request.after_tenant_id),
                after_user_id=_optional_uuid(request.after_user_id),
                limit=max(1, min(request.limit, MAX_OWNERS_PAGE)),
                tenant_ids=[UUID(tenant_id) for tenant_id in request.tenant_ids],
            )
        return RecapOwnersPage(
            items=[
                RecapOwner(tenant_id=str(row.tenant_id), user_id=str(row.user_id), poc_count=row.poc_count)
                for row in rows
            ],
            has_more=has_more,
        )

    @activity.defn(name=READ_RECAP_PROFILE_ACTIVITY)
    async def read_recap_profile(self, request: RecapProfileRequest) -> RecapProfile:
        """Active only when both the person and their tenant are ACTIVE; their language and plan."""
        tenant_id, user_id = UUID(request.tenant_id), UUID(request.user_id)
        async with self._identity() as engine, tenant_transaction(engine, tenant_id):
            tenant = await identity_repository.get_tenant(tenant_id)
            user = await identity_repository.get_user(tenant_id, user_id)
        if tenant is None or user is None:
            return RecapProfile(active=False)
        return RecapProfile(
            active=tenant.status == "ACTIVE" and user.status == "ACTIVE",
            locale=user.locale or tenant.default_locale,
            plan=tenant.plan,
        )

    @activity.defn(name=CREATE_RECAP_REQUEST_ACTIVITY)
    async def create_recap_request(self, request: RecapRequestInput) -> RecapRequestOutcome:
        """The person's recap request of the year, created once; its run to start while it is PENDING."""
        actor = Actor(user_id=UUID(request.user_id), tenant_id=UUID(request.tenant_id), plan=request.plan)
        record, created = await self.videos.request_recap(actor, request.year, locale=request.locale)
        if record is None:
            activity.logger.info(
                "recap of %s/%s for %s skipped: video quota used",
                request.tenant_id,
                request.user_id,
                request.year,
            )
            return RecapRequestOutcome(status="quota")
        startable = record.status == "PENDING" and record.started_at is None
        return RecapRequestOutcome(
            status="created" if created else "existing",
            request_id=str(record.request_id),
            workflow_id=record.workflow_id,
            job=video_job(record) if startable else None,
        )
