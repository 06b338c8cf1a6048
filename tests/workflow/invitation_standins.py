"""A stand-in for the UserInvitation workflow's activity (not the real one).

Registered under the real activity name, it records every call, answers SENT or SKIPPED as a
test asks, and fails where a test asks it to, so the workflow's control flow is tested on its
own. The real activity runs against real services in tests/integration/identity/.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import structlog
from temporalio import activity

from tests.workflow.standins import FailureRule
from workflows.user_invitation_types import (
    SEND_INVITATION_ACTIVITY,
    SENT,
    SKIPPED,
    InvitationDelivery,
    InvitationRequest,
)


@dataclass
class StandInInvitationActivities:
    skip_reason: str | None = None
    """Answer SKIPPED with this reason instead of sending."""
    failure: FailureRule | None = None
    calls: list[InvitationRequest] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    log_contexts: list[dict[str, Any]] = field(default_factory=list)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_user_invitation]

    @activity.defn(name=SEND_INVITATION_ACTIVITY)
    async def send_user_invitation(self, request: InvitationRequest) -> InvitationDelivery:
        attempt = activity.info().attempt
        self.calls.append(request)
        self.attempts.append(attempt)
        self.log_contexts.append(structlog.contextvars.get_contextvars())
        failure = self.failure(attempt) if self.failure else None
        if failure is not None:
            raise failure
        if self.skip_reason is not None:
            return InvitationDelivery(status=SKIPPED, reason=self.skip_reason)
        return InvitationDelivery(status=SENT, message_id=f"<invitation-{request.invitation_id}@stand-in>")
