"""Workers: one process per task queue, and the registry of what runs on which queue.

A queue's activities come from a provider that owns their clients (database pool, storage,
mailer): built once per process from settings, opened before the worker polls and closed
after it has drained. Tests pass their own provider to inject failures into the real code.

    python -m temporal.worker identity      (``mrbill worker identity`` calls `run_worker` too)
    python -m temporal.worker indexing      (search's read model; also reads the catalog and realtime)
    python -m temporal.worker content       (reports; also reads the catalog and identity)
    python -m temporal.worker video         (recap videos; also reads the catalog and identity)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol, Self

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.catalog import CatalogActivities, CatalogReportActivities
from activities.content import ContentActivities
from activities.dojo_search import (
    DojoSearchActivities,
    RealtimeDojoActivities,
    ensure_dojo_reconciliation_schedule,
)
from activities.identity import IdentityActivities, IdentityProfileActivities
from activities.recap import RecapActivities, ensure_recap_schedule
from activities.sandbox import SandboxActivities
from activities.search import SearchActivities, ensure_reconciliation_schedule
from activities.video import VideoActivities
from api.common.settings import Settings
from temporal.client import connect_client
from temporal.interceptors import TenantContextInterceptor
from temporal.search_attributes import ensure_search_attributes
from workflows.dojo_indexing import DojoIndexing, DojoIndexReconciliation
from workflows.poc_indexing import PocIndexing, PocIndexReconciliation
from workflows.poc_indexing_types import TASK_QUEUE as INDEXING_QUEUE
from workflows.report_generation import ReportGeneration
from workflows.report_generation_types import TASK_QUEUE as CONTENT_QUEUE
from workflows.sandbox_run import SandboxRun
from workflows.sandbox_run_types import TASK_QUEUE as SANDBOX_QUEUE
from workflows.search_reindex import SearchReindex
from workflows.tenant_onboarding import TenantOnboarding
from workflows.tenant_onboarding_types import TASK_QUEUE as IDENTITY_QUEUE
from workflows.user_invitation import UserInvitation
from workflows.yearly_recap import YearlyRecap
from workflows.yearly_video import YearlyVideo
from workflows.yearly_video_types import TASK_QUEUE as VIDEO_QUEUE

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=20)
"""How long running activities may finish after SIGINT/SIGTERM before they are cancelled."""

WORKFLOW_SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("msgspec")
)
"""msgspec (the converter's, a C extension) is imported once for the process, not per workflow run."""

DATABASE_WAIT_SECONDS = 300.0
"""How long a worker waits for the databases its activities read (another process migrates them)."""


class ActivityProvider(Protocol):
    def activities(self) -> Sequence[Callable[..., Any]]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class CompositeActivities:
    """Several providers served by one worker: opened in order, closed in reverse.

    The indexing queue runs search's activities and the catalog's reads side by side, each
    provider keeping its own clients (the search engine, the catalog's application role).
    """

    def __init__(self, *providers: ActivityProvider) -> None:
        self.providers = providers
        self._stack: AsyncExitStack | None = None

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [activity for provider in self.providers for activity in provider.activities()]

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            for provider in self.providers:
                await stack.enter_async_context(provider)
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
            await stack.__aexit__(exc_type, exc, traceback)


def indexing_activities(settings: Settings) -> CompositeActivities:
    """Search's activities (POCs, and dojos on the same engine) with the catalog's and realtime's reads."""
    search = SearchActivities.from_settings(settings)
    return CompositeActivities(
        search,
        CatalogActivities.from_settings(settings),
        DojoSearchActivities(search.engine, settings=settings, owns_engine=False),
        RealtimeDojoActivities.from_settings(settings),
    )


def content_activities(settings: Settings) -> CompositeActivities:
    """Reports: content's own activities, the catalog's selection and identity's profile read,
    each as its own service's application role."""
    return CompositeActivities(
        ContentActivities.from_settings(settings),
        CatalogReportActivities.from_settings(settings),
        IdentityProfileActivities.from_settings(settings),
    )


def video_activities(settings: Settings) -> CompositeActivities:
    """Recap videos: content's request and file activities with the renderer's, the catalog's
    selection and identity's profile read, each as its own service's application role."""
    return CompositeActivities(
        VideoActivities.from_settings(settings),
        CatalogReportActivities.from_settings(settings),
        IdentityProfileActivities.from_settings(settings),
        RecapActivities.from_settings(settings),
    )


async def _schedule_reconciliation(client: Client, task_queue: str) -> None:
    """The periodic catch-up of the read model, created once and kept up to date on every start.

    A worker polling another queue name (tests, blue/green) gets a schedule of its own, so it
    never redirects the production schedule to its queue.
    """
    if task_queue == INDEXING_QUEUE:
        created = await ensure_reconciliation_schedule(client)
        dojos_created = await ensure_dojo_reconciliation_schedule(client)
    else:
        created = await ensure_reconciliation_schedule(
            client, task_queue=task_queue, schedule_id=f"poc-index-reconciliation/{task_queue}"
        )
        dojos_created = await ensure_dojo_reconciliation_schedule(
            client, task_queue=task_queue, schedule_id=f"dojo-index-reconciliation/{task_queue}"
        )
    logger.info("reconciliation schedule %s", "created" if created else "up to date")
    logger.info("dojo reconciliation schedule %s", "created" if dojos_created else "up to date")


async def _schedule_recap(client: Client, task_queue: str) -> None:
    """The yearly recap's schedule, created once and kept up to date on every start of the video
    worker. Workers polling another queue name (tests) leave it alone: a yearly schedule per test
    queue would outlive the test by a year."""
    if task_queue != VIDEO_QUEUE:
        logger.info("yearly recap schedule left alone for task queue %s", task_queue)
        return
    created = await ensure_recap_schedule(client)
    logger.info("yearly recap schedule %s", "created" if created else "up to date")


@dataclass(frozen=True)
class QueueRegistration:
    workflows: tuple[type, ...]
    activities: Callable[[Settings], ActivityProvider]
    databases: tuple[str, ...] = ()
    """Services whose databases the activities open at start; the worker waits for them."""
    on_start: Callable[[Client, str], Awaitable[None]] | None = None
    """Run once the client is connected, before polling, with the task queue polled."""
    heartbeat_throttle: timedelta = timedelta(seconds=60)
    """Longest wait between two heartbeats sent to the server (the SDK's default). A cancellation
    reaches a running activity only in a heartbeat's answer, so queues whose long activities
    must stop promptly (rendering) send them more often."""


QUEUES: dict[str, QueueRegistration] = {
    IDENTITY_QUEUE: QueueRegistration(
        workflows=(TenantOnboarding, UserInvitation),
        activities=IdentityActivities.from_settings,
        databases=("identity",),
    ),
    INDEXING_QUEUE: QueueRegistration(
        workflows=(PocIndexing, PocIndexReconciliation, SearchReindex, DojoIndexing, DojoIndexReconciliation),
        activities=indexing_activities,
        databases=("search", "catalog", "realtime"),
        on_start=_schedule_reconciliation,
    ),
    CONTENT_QUEUE: QueueRegistration(
        workflows=(ReportGeneration,),
        activities=content_activities,
        databases=("content", "catalog", "identity"),
        heartbeat_throttle=timedelta(seconds=1),
    ),
    VIDEO_QUEUE: QueueRegistration(
        workflows=(YearlyVideo, YearlyRecap),
        activities=video_activities,
        databases=("content", "catalog", "identity"),
        on_start=_schedule_recap,
        heartbeat_throttle=timedelta(seconds=1),
    ),
    SANDBOX_QUEUE: QueueRegistration(
        workflows=(SandboxRun,),
        activities=SandboxActivities.from_settings,
        heartbeat_throttle=timedelta(seconds=1),
    ),
}
"""Every task queue, its workflows and its activities; a worker process serves exactly one."""


def registration(queue: str) -> QueueRegistration:
    try:
        return QUEUES[queue]
    except KeyError:
        raise ValueError(f"unknown task queue {queue!r}; known: {', '.join(sorted(QUEUES))}") from None


def build_worker(
    queue: str,
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    activities: ActivityProvider | None = None,
) -> Worker:
    """A worker for `queue`'s workflows and activities, polling `task_queue` (default: `queue`).

    Without `activities` the queue's provider is built from settings and used without a
    pool (a connection per transaction); `run_worker` opens the provider for production.
    """
    queue_registration = registration(queue)
    provider = activities if activities is not None else queue_registration.activities(settings)
    return Worker(
        client,
        task_queue=task_queue or queue,
        workflows=list(queue_registration.workflows),
        activities=list(provider.activities()),
        interceptors=[TenantContextInterceptor()],
        workflow_runner=WORKFLOW_SANDBOX,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_heartbeat_throttle_interval=queue_registration.heartbeat_throttle,
    )


async def wait_for_databases(
    settings: Settings, services: Sequence[str], wait_seconds: float = DATABASE_WAIT_SECONDS
) -> None:
    """Until each service's application role can connect: its database may still be migrating
    in the service's own process (``mrbill serve --wait``) when this worker starts."""
    deadline = time.monotonic() + wait_seconds
    for service in services:
        while True:
            try:
                connection = await asyncpg.connect(settings.database_url(service), timeout=5)
            except (OSError, asyncpg.PostgresError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {service} database is not reachable: {exc}") from exc
                logger.info("waiting for the %s database (%s)", service, exc)
                await asyncio.sleep(1.0)
                continue
            await connection.close()
            break


async def run_worker(queue: str, settings: Settings, *, task_queue: str | None = None) -> None:
    """Serve `queue` until SIGINT or SIGTERM, then let running activities finish and exit.

    `task_queue` polls another queue name with `queue`'s registration (tests, blue/green).
    """
    queue_registration = registration(queue)
    client = await connect_client(settings, wait_seconds=60)
    added = await ensure_search_attributes(client, settings.temporal_namespace)
    if added:
        logger.info("registered search attributes %s", ", ".join(added))
    await wait_for_databases(settings, queue_registration.databases)
    if queue_registration.on_start is not None:
        await queue_registration.on_start(client, task_queue or queue)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with queue_registration.activities(settings) as provider:
            worker = build_worker(queue, client, settings, task_queue=task_queue, activities=provider)
            running = asyncio.create_task(worker.run())
            stopping = asyncio.create_task(stop.wait())
            logger.info("worker for task queue %s started", task_queue or queue)
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                stopping.cancel()
                running.result()
                return
            logger.info("worker for task queue %s stopping", task_queue or queue)
            await worker.shutdown()
            await running
            logger.info("worker for task queue %s stopped", task_queue or queue)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m temporal.worker", description="Run one task queue's worker."
    )
    parser.add_argument("queue", choices=sorted(QUEUES))
    parser.add_argument("--task-queue", help="poll this queue name instead (tests)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker(arguments.queue, Settings(), task_queue=arguments.task_queue))


if __name__ == "__main__":
    main()
