"""Workers: one process per task queue, and the registry of what runs on which queue.

A queue's activities come from a provider that owns their clients (database pool, storage,
mailer): built once per process from settings, opened before the worker polls and closed
after it has drained. Tests pass their own provider to inject failures into the real code.

    python -m temporal.worker identity      (``mrbill worker identity`` calls `run_worker` too)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.identity import IdentityActivities
from api.common.settings import Settings
from temporal.client import connect_client
from temporal.interceptors import TenantContextInterceptor
from temporal.search_attributes import ensure_search_attributes
from workflows.tenant_onboarding import TenantOnboarding
from workflows.tenant_onboarding_types import TASK_QUEUE as IDENTITY_QUEUE

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=20)
"""How long running activities may finish after SIGINT/SIGTERM before they are cancelled."""

WORKFLOW_SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("msgspec")
)
"""msgspec (the converter's, a C extension) is imported once for the process, not per workflow run."""


class ActivityProvider(Protocol):
    def activities(self) -> Sequence[Callable[..., Any]]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


@dataclass(frozen=True)
class QueueRegistration:
    workflows: tuple[type, ...]
    activities: Callable[[Settings], ActivityProvider]


QUEUES: dict[str, QueueRegistration] = {
    IDENTITY_QUEUE: QueueRegistration(
        workflows=(TenantOnboarding,), activities=IdentityActivities.from_settings
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
    )


async def run_worker(queue: str, settings: Settings, *, task_queue: str | None = None) -> None:
    """Serve `queue` until SIGINT or SIGTERM, then let running activities finish and exit.

    `task_queue` polls another queue name with `queue`'s registration (tests, blue/green).
    """
    queue_registration = registration(queue)
    client = await connect_client(settings, wait_seconds=60)
    added = await ensure_search_attributes(client, settings.temporal_namespace)
    if added:
        logger.info("registered search attributes %s", ", ".join(added))

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
