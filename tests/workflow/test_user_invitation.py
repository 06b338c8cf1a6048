"""The UserInvitation workflow's control flow, with a stand-in activity on the time-skipping server,
and its recorded histories replayed on the current code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.common.settings import Settings
from temporal.converter import data_converter
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from temporal.worker import WORKFLOW_SANDBOX, build_worker
from tests.workflow.invitation_standins import StandInInvitationActivities
from tests.workflow.standins import always, first_attempts, non_retryable
from workflows.user_invitation import SEND_DEADLINE, SEND_RETRY, SEND_TIMEOUT, UserInvitation
from workflows.user_invitation_types import (
    INVITATION_NOT_SENT_ERROR,
    SEND_INVITATION_ACTIVITY,
    SENT,
    SKIPPED,
    TASK_QUEUE,
    WORKFLOW_NAME,
    InvitationDelivery,
    InvitationRequest,
    invitation_workflow_id,
)
from workflows.user_invitation_types import (
    REQUEST_TYPE as INVITATION_REQUEST_TYPE,
)

pytestmark = pytest.mark.workflow

HISTORIES = Path(__file__).parent / "histories" / "user_invitation"
RECORDED = sorted(HISTORIES.glob("*.json"))

InvitationHandle = WorkflowHandle[object, InvitationDelivery]


def invitation_request() -> InvitationRequest:
    return InvitationRequest(tenant_id=str(uuid4()), user_id=str(uuid4()), invitation_id=str(uuid4()))


@asynccontextmanager
async def invitation(
    env: WorkflowEnvironment, standins: StandInInvitationActivities, request: InvitationRequest
) -> AsyncIterator[InvitationHandle]:
    """The real worker set-up (registry, sandbox, interceptors) with the stand-in activity."""
    task_queue = f"invitation-test-{uuid4()}"
    worker = build_worker(TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins)
    async with worker, standins:
        handle: InvitationHandle = await env.client.start_workflow(
            WORKFLOW_NAME,
            request,
            id=invitation_workflow_id(request.tenant_id, request.user_id, request.invitation_id),
            task_queue=task_queue,
            result_type=InvitationDelivery,
        )
        yield handle


def test_the_workflow_id_names_tenant_user_and_invitation() -> None:
    assert invitation_workflow_id("t1", "u1", "i1") == "user-invitation/t1/u1/i1"


async def test_the_email_is_sent_once_and_the_workflow_is_findable(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInInvitationActivities()
    request = invitation_request()
    async with invitation(time_skipping_env, standins, request) as handle:
        delivery = await handle.result()
        description = await handle.describe()

    assert delivery == InvitationDelivery(
        status=SENT, message_id=f"<invitation-{request.invitation_id}@stand-in>"
    )
    assert standins.calls == [request]
    assert standins.log_contexts[0]["tenant_id"] == request.tenant_id
    attributes = description.typed_search_attributes
    assert attributes.get(TENANT_ID) == request.tenant_id
    assert attributes.get(USER_ID) == request.user_id
    assert attributes.get(REQUEST_TYPE) == INVITATION_REQUEST_TYPE


async def test_a_closed_invitation_is_skipped_without_failing(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInInvitationActivities(skip_reason="revoked")
    async with invitation(time_skipping_env, standins, invitation_request()) as handle:
        delivery = await handle.result()

    assert delivery == InvitationDelivery(status=SKIPPED, reason="revoked")
    assert standins.attempts == [1]


async def test_a_mail_service_outage_is_retried_until_it_recovers(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    standins = StandInInvitationActivities(failure=first_attempts(4, "mail service unavailable"))
    async with invitation(time_skipping_env, standins, invitation_request()) as handle:
        delivery = await handle.result()

    assert delivery.status == SENT
    assert standins.attempts == [1, 2, 3, 4, 5]


async def test_a_refused_address_fails_at_once(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInInvitationActivities(failure=non_retryable("MailRejected", "no such mailbox"))
    request = invitation_request()
    async with invitation(time_skipping_env, standins, request) as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()

    assert standins.attempts == [1]
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == INVITATION_NOT_SENT_ERROR
    assert request.invitation_id in cause.message
    assert "no such mailbox" in cause.message


async def test_the_workflow_gives_up_after_a_day_of_retries(time_skipping_env: WorkflowEnvironment) -> None:
    standins = StandInInvitationActivities(failure=always("mail service unavailable"))
    async with invitation(time_skipping_env, standins, invitation_request()) as handle:
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == INVITATION_NOT_SENT_ERROR
    # Every interval doubles from 2 s up to 10 min: about 150 attempts fit in the day, never more.
    assert SEND_RETRY.maximum_interval is not None
    longest_wait = SEND_RETRY.maximum_interval + SEND_TIMEOUT
    assert SEND_DEADLINE / longest_wait < len(standins.attempts) <= SEND_DEADLINE / timedelta(seconds=2)


# -- replay --------------------------------------------------------------------------------------


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"user-invitation/{path.stem}", path.read_text())


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem for path in RECORDED} >= {"sent", "skipped", "mail_rejected"}


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays_on_the_current_code(path: Path) -> None:
    replayer = Replayer(
        workflows=[UserInvitation], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    history = await asyncio.to_thread(_history, path)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class SendsWithoutSearchAttributes:
    """A careless edit (the search attributes dropped), to prove the replay test can fail."""

    @workflow.run
    async def run(self, request: InvitationRequest) -> InvitationDelivery:
        delivery: InvitationDelivery = await workflow.execute_activity(
            SEND_INVITATION_ACTIVITY,
            request,
            start_to_close_timeout=SEND_TIMEOUT,
            result_type=InvitationDelivery,
        )
        return delivery


async def test_a_changed_workflow_is_caught_as_nondeterministic() -> None:
    replayer = Replayer(workflows=[SendsWithoutSearchAttributes], data_converter=data_converter)
    history = await asyncio.to_thread(_history, HISTORIES / "sent.json")
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
