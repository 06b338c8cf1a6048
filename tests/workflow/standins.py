"""Stand-in activities for the workflow tests (not the real ones), and what their tests share.

For the TenantOnboarding workflow, identity's steps and search's (the tenant's index, served by
the indexing worker in production) are stood in for by one class; a test that checks the
routing to search's task queue runs a second instance on that queue.

They are registered under the real activity names, record every call in order, and fail or
block where a test asks them to, so the saga's control flow is tested on its own. The real
activities run against real services in tests/integration/onboarding/.

The ReportGeneration and YearlyVideo stand-ins share one base (`StandInContentActivities`): both
workflows claim a content request, read its owner's profile, select the POCs, and cancel or
discard files the same way; only their own steps differ. The worker and run helpers below set
up the real worker around any of these stand-ins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar
from uuid import uuid4

import structlog
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, WorkflowReplayResult

from api.common.settings import Settings
from temporal.converter import data_converter
from temporal.worker import WORKFLOW_SANDBOX, build_worker
from workflows.report_generation_types import (
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    ClaimRequest,
    DiscardRequest,
    OwnerProfile,
    OwnerProfileRequest,
    PocSelection,
    PocSelectionRequest,
    ReportClaim,
    ReportRequestRef,
    RequestOutcome,
    report_pocs_key,
)
from workflows.search_index_types import (
    CREATE_TENANT_INDEX_ACTIVITY,
    DROP_TENANT_INDEX_ACTIVITY,
    TenantIndexRequest,
)
from workflows.tenant_onboarding_types import (
    NewOwner,
    NewTenant,
    TenantRef,
    TenantStoragePrefix,
    UserRef,
    WelcomeEmail,
    WelcomeEmailReceipt,
)

ResultT = TypeVar("ResultT")
ProgressT = TypeVar("ProgressT")

FailureRule = Callable[[int], BaseException | None]
"""Given the attempt number (1, 2, ...), the exception to raise, or None to succeed."""


def always(message: str) -> FailureRule:
    """A retryable failure on every attempt: the step fails once its retries are spent."""
    return lambda attempt: RuntimeError(message)


def first_attempts(count: int, message: str) -> FailureRule:
    return lambda attempt: RuntimeError(message) if attempt <= count else None


def non_retryable(error_type: str, message: str) -> FailureRule:
    return lambda attempt: ApplicationError(message, type=error_type, non_retryable=True)


@dataclass
class StandInIdentityActivities:
    failures: dict[str, FailureRule] = field(default_factory=dict)
    block_at: str | None = None
    calls: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    log_contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What the worker's interceptor bound for each activity's log lines."""
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.create_tenant,
            self.delete_tenant,
            self.create_owner_user,
            self.delete_user,
            self.create_storage_prefix,
            self.delete_storage_prefix,
            self.create_tenant_search_index,
            self.drop_tenant_search_index,
            self.send_welcome_email,
            self.activate_tenant,
        ]

    async def _perform(self, name: str, argument: Any) -> None:
        self.calls.append(name)
        self.arguments[name] = argument
        self.log_contexts[name] = structlog.contextvars.get_contextvars()
        if name == self.block_at:
            self.blocked.set()
            await self.release.wait()
        rule = self.failures.get(name)
        failure = rule(activity.info().attempt) if rule else None
        if failure is not None:
            raise failure

    @activity.defn(name="create_tenant")
    async def create_tenant(self, request: NewTenant) -> None:
        await self._perform("create_tenant", request)

    @activity.defn(name="delete_tenant")
    async def delete_tenant(self, request: TenantRef) -> None:
        await self._perform("delete_tenant", request)

    @activity.defn(name="create_owner_user")
    async def create_owner_user(self, request: NewOwner) -> None:
        await self._perform("create_owner_user", request)

    @activity.defn(name="delete_user")
    async def delete_user(self, request: UserRef) -> None:
        await self._perform("delete_user", request)

    @activity.defn(name="create_storage_prefix")
    async def create_storage_prefix(self, request: TenantStoragePrefix) -> None:
        await self._perform("create_storage_prefix", request)

    @activity.defn(name="delete_storage_prefix")
    async def delete_storage_prefix(self, request: TenantStoragePrefix) -> None:
        await self._perform("delete_storage_prefix", request)

    @activity.defn(name=CREATE_TENANT_INDEX_ACTIVITY)
    async def create_tenant_search_index(self, request: TenantIndexRequest) -> None:
        await self._perform(CREATE_TENANT_INDEX_ACTIVITY, request)

    @activity.defn(name=DROP_TENANT_INDEX_ACTIVITY)
    async def drop_tenant_search_index(self, request: TenantIndexRequest) -> int:
        await self._perform(DROP_TENANT_INDEX_ACTIVITY, request)
        return 0

    @activity.defn(name="send_welcome_email")
    async def send_welcome_email(self, request: WelcomeEmail) -> WelcomeEmailReceipt:
        await self._perform("send_welcome_email", request)
        return WelcomeEmailReceipt(message_id=f"<welcome-{request.user_id}@stand-in>")

    @activity.defn(name="activate_tenant")
    async def activate_tenant(self, request: TenantRef) -> None:
        await self._perform("activate_tenant", request)


SHARED_STEP_OF: dict[str, str] = {
    CLAIM_REPORT_ACTIVITY: "claim",
    READ_OWNER_PROFILE_ACTIVITY: "profile",
    SELECT_REPORT_POCS_ACTIVITY: "select",
}
"""The first activities of every content request's run -> the workflow's step."""


@dataclass
class StandInRequest:
    """The content request as the stand-ins keep it (what the real repository keeps in a row)."""

    status: str = "PENDING"
    progress: int = 0
    step: str | None = None
    poc_count: int | None = None
    result_key: str | None = None
    thumbnail_key: str | None = None
    """Set by videos only."""
    error_code: str | None = None
    error_message: str | None = None
    progress_seen: list[int] = field(default_factory=list)


@dataclass
class StandInContentActivities:
    """The steps every content request's workflow shares; a subclass adds its own steps.

    It keeps the content request and the stored files in memory, so a test sees exactly what a
    run left behind.
    """

    owner_name: ClassVar[str] = "Ana Souza"
    """The display name the owner's profile answers with."""

    poc_count: int = 3
    request: StandInRequest = field(default_factory=StandInRequest)
    failures: dict[str, FailureRule] = field(default_factory=dict)
    block_at: str | None = None
    """An activity that waits (heartbeating) until `release` is set or it is cancelled."""
    calls: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    """The store: key -> content."""
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)
    """Activities that saw their cancellation."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()

    def own_activities(self) -> Sequence[Callable[..., Any]]:
        """The subclass's steps, between the selection and the cancellation."""
        raise NotImplementedError

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.claim,
            self.read_profile,
            self.select,
            *self.own_activities(),
            self.cancel,
            self.discard,
        ]

    async def _perform(self, name: str, argument: Any) -> None:
        self.calls.append(name)
        self.arguments[name] = argument
        if name == self.block_at and not self.release.is_set():
            self.blocked.set()
            try:
                while not self.release.is_set():
                    activity.heartbeat({"percent": self.request.progress})
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
        rule = self.failures.get(name)
        failure = rule(activity.info().attempt) if rule else None
        if failure is not None:
            raise failure

    def _progress(self, progress: int, step: str) -> None:
        if self.request.status in ("PENDING", "PROCESSING") and progress >= self.request.progress:
            self.request.progress, self.request.step = progress, step
            self.request.progress_seen.append(progress)

    def _end(self, status: str) -> bool:
        if self.request.status in ("PENDING", "PROCESSING"):
            self.request.status = status
            return True
        return self.request.status == status

    def _fail(self, error_code: str, message: Callable[[], str]) -> RequestOutcome:
        """Ends the request FAILED with the real sentence, unless it already ended otherwise."""
        changed = self._end("FAILED")
        if changed:
            self.request.error_code = error_code
            self.request.error_message = message()
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=CLAIM_REPORT_ACTIVITY)
    async def claim(self, request: ClaimRequest) -> ReportClaim:
        await self._perform(CLAIM_REPORT_ACTIVITY, request)
        if self.request.status not in ("PENDING", "PROCESSING"):
            return ReportClaim(claimed=False, status=self.request.status)
        self.request.status = "PROCESSING"
        self._progress(request.progress, request.step)
        return ReportClaim(claimed=True)

    @activity.defn(name=READ_OWNER_PROFILE_ACTIVITY)
    async def read_profile(self, request: OwnerProfileRequest) -> OwnerProfile:
        await self._perform(READ_OWNER_PROFILE_ACTIVITY, request)
        return OwnerProfile(display_name=self.owner_name, email="ana@acme.example", locale="pt_BR")

    @activity.defn(name=SELECT_REPORT_POCS_ACTIVITY)
    async def select(self, request: PocSelectionRequest) -> PocSelection:
        key = report_pocs_key(request.tenant_id, request.user_id, request.request_id)
        self.files[key] = b"[]"  # written before a failure can be reported, as a lost ack would
        await self._perform(SELECT_REPORT_POCS_ACTIVITY, request)
        return PocSelection(count=self.poc_count, key=key)

    @activity.defn(name=CANCEL_REPORT_ACTIVITY)
    async def cancel(self, request: ReportRequestRef) -> RequestOutcome:
        await self._perform(CANCEL_REPORT_ACTIVITY, request)
        changed = self._end("CANCELLED")
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=DISCARD_REPORT_FILES_ACTIVITY)
    async def discard(self, request: DiscardRequest) -> int:
        await self._perform(DISCARD_REPORT_FILES_ACTIVITY, request)
        doomed = [
            key
            for key in self.files
            if key in request.keys or (request.prefix is not None and key.startswith(request.prefix))
        ]
        for key in doomed:
            del self.files[key]
        return len(doomed)


@asynccontextmanager
async def standin_worker(
    env: WorkflowEnvironment, task_queue: str, standins: StandInContentActivities, name: str
) -> AsyncIterator[str]:
    """The real worker set-up (registry, sandbox, interceptors) with stand-in activities.

    `task_queue` picks the production worker to copy; the worker itself polls a queue of its own
    (yielded, named after `name`), so tests never see one another's tasks.
    """
    own_queue = f"{name}-test-{uuid4()}"
    worker = build_worker(task_queue, env.client, Settings(), task_queue=own_queue, activities=standins)
    async with worker, standins:
        yield own_queue


async def start_standin_run(
    env: WorkflowEnvironment,
    task_queue: str,
    workflow_name: str,
    job: object,
    workflow_id: str,
    result_type: type[ResultT],
) -> WorkflowHandle[object, ResultT]:
    """Starts the workflow on the stand-ins' own queue, as the API would start it."""
    handle: WorkflowHandle[object, ResultT] = await env.client.start_workflow(
        workflow_name, job, id=workflow_id, task_queue=task_queue, result_type=result_type
    )
    return handle


async def progress_of(handle: WorkflowHandle[Any, Any], progress_type: type[ProgressT]) -> ProgressT:
    """The run's ``progress`` query, read as `progress_type`."""
    progress: ProgressT = await handle.query("progress", result_type=progress_type)
    return progress


def activity_summaries(history: WorkflowHistory) -> list[str]:
    """The one-line summary of every scheduled activity, as the Temporal UI shows it."""
    return [
        DataConverter.default.payload_converter.from_payload(event.user_metadata.summary, str)
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def replay_recorded(workflow_class: type, path: Path, label: str) -> WorkflowReplayResult:
    """Replays a recorded history on the current code in the workflow sandbox, failures kept."""
    replayer = Replayer(
        workflows=[workflow_class], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    history = WorkflowHistory.from_json(f"{label}/{path.stem}", await asyncio.to_thread(path.read_text))
    return await replayer.replay_workflow(history, raise_on_replay_failure=False)
