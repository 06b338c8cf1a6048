"""Stand-in activities for the TenantOnboarding workflow tests (not the real ones).

Identity's steps and search's (the tenant's index, served by the indexing worker in
production) are stood in for by one class; a test that checks the routing to search's task
queue runs a second instance on that queue.

They are registered under the real activity names, record every call in order, and fail or
block where a test asks them to, so the saga's control flow is tested on its own. The real
activities run against real services in tests/integration/onboarding/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

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
