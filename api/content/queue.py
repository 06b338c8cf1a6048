"""Hands accepted requests to Temporal (the seed's ContentQueueManager) and asks it to cancel them.

One Temporal client per process, connected in the background when the app starts, so the
first request does not pay for the connection. Unlike the catalog's indexing, a report that
cannot be started is not repaired later: `QueueUnavailable` makes the caller mark the request
FAILED and tell the person at once (503), since nobody would otherwise ever finish it.

A video is started with update-with-start: the YearlyVideo run answers the ``selection``
update once it knows how many POCs the period holds, so the API can refuse an empty period
with a 4xx instead of accepting a request that would end in an empty video.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.common.settings import Settings
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from workflows.report_generation_types import (
    REPORT_REQUEST_TYPE,
    TASK_QUEUE,
    WORKFLOW_NAME,
    ReportJob,
    report_workflow_id,
)
from workflows.yearly_video_types import (
    RECAP_WORKFLOW_NAME,
    SELECTION_UPDATE,
    VIDEO_REQUEST_TYPE,
    SelectionOutcome,
    VideoJob,
    video_workflow_id,
)
from workflows.yearly_video_types import TASK_QUEUE as VIDEO_QUEUE
from workflows.yearly_video_types import WORKFLOW_NAME as VIDEO_WORKFLOW_NAME

CONNECT_TIMEOUT_SECONDS = 3.0
RPC_TIMEOUT_SECONDS = 5.0
SELECTION_TIMEOUT_SECONDS = 10.0
"""How long a POST /v1/videos waits for the run to count the period's POCs."""

logger = structlog.get_logger(__name__)


class QueueUnavailable(Exception):
    """Temporal could not be reached, or did not take the call; retrying later may work."""


class ContentQueue:
    def __init__(
        self,
        settings: Settings,
        client: Client | None = None,
        *,
        task_queue: str = TASK_QUEUE,
        video_task_queue: str = VIDEO_QUEUE,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        rpc_timeout: float = RPC_TIMEOUT_SECONDS,
        selection_timeout: float = SELECTION_TIMEOUT_SECONDS,
    ) -> None:
        self._settings = settings
        self._client = client
        self.task_queue = task_queue
        self.video_task_queue = video_task_queue
        self.selection_timeout = selection_timeout
        self._connect_timeout = connect_timeout
        self._rpc_timeout = timedelta(seconds=rpc_timeout)
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The process's client, connected on first use; `QueueUnavailable` when Temporal is unreachable."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect_client(self._settings), timeout=self._connect_timeout
                    )
                except Exception as exc:
                    raise QueueUnavailable(f"cannot connect to Temporal: {exc!r}") from exc
            return self._client

    async def warm_up(self) -> None:
        """Connect ahead of the first request; a failure only means the first request tries again."""
        try:
            await self.client()
        except QueueUnavailable as exc:
            logger.warning("temporal not reachable yet", error=str(exc))

    async def start_report(self, job: ReportJob) -> None:
        """Start the request's ReportGeneration run; a duplicate start of the same request is a no-op."""
        client = await self.client()
        try:
            await client.start_workflow(
                WORKFLOW_NAME,
                job,
                id=report_workflow_id(job.tenant_id, job.request_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=_attributes(job.tenant_id, job.user_id, REPORT_REQUEST_TYPE),
                static_summary=f"{job.format.upper()}: {job.title}",
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            return
        except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(f"cannot start {WORKFLOW_NAME}: {exc!r}") from exc

    async def select_video(self, job: VideoJob) -> SelectionOutcome | None:
        """Start the request's YearlyVideo run (or reach the one running) and wait for its selection.

        None when a run of this request has already ended (a replay after it finished): there is
        nothing left to ask. `QueueUnavailable` when Temporal or the run did not answer in time.
        """
        client = await self.client()
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            VIDEO_WORKFLOW_NAME,
            job,
            id=video_workflow_id(job.tenant_id, job.request_id),
            task_queue=self.video_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=_attributes(job.tenant_id, job.user_id, VIDEO_REQUEST_TYPE),
            static_summary=f"{job.format}: {job.title}",
        )
        try:
            outcome: SelectionOutcome = await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    SELECTION_UPDATE,
                    start_workflow_operation=operation,
                    result_type=SelectionOutcome,
                    rpc_timeout=timedelta(seconds=self.selection_timeout),
                ),
                timeout=self.selection_timeout,
            )
        except WorkflowAlreadyStartedError:
            return None
        except (
            RPCError,
            WorkflowUpdateFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
            RuntimeError,
            OSError,
            TimeoutError,
        ) as exc:
            raise QueueUnavailable(f"cannot start {VIDEO_WORKFLOW_NAME}: {exc!r}") from exc
        return outcome

    async def start_recap(self, workflow_id: str, recap_input: Any) -> bool:
        """Start a YearlyRecap run; False when one with this id is running already."""
        client = await self.client()
        try:
            await client.start_workflow(
                RECAP_WORKFLOW_NAME,
                recap_input,
                id=workflow_id,
                task_queue=self.video_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            return False
        except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(f"cannot start {RECAP_WORKFLOW_NAME}: {exc!r}") from exc
        return True

    async def cancel(self, workflow_id: str) -> bool:
        """Ask the run to cancel; False when Temporal has no such workflow (it never started)."""
        client = await self.client()
        try:
            await client.get_workflow_handle(workflow_id).cancel(rpc_timeout=self._rpc_timeout)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise QueueUnavailable(f"cannot cancel {workflow_id}: {exc!r}") from exc
        except (RuntimeError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(f"cannot cancel {workflow_id}: {exc!r}") from exc
        return True


def _attributes(tenant_id: str, user_id: str, request_type: str) -> TypedSearchAttributes:
    """What operators filter by in the Temporal UI: the tenant, the person and the kind of job."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, tenant_id),
            SearchAttributePair(USER_ID, user_id),
            SearchAttributePair(REQUEST_TYPE, request_type),
        ]
    )
