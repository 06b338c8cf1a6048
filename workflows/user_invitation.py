"""UserInvitation: e-mail an invited user the link that lets them choose a password.

The API creates the invitation row together with the user (or on a resend) and starts this
workflow once that transaction has committed, with the id
``user-invitation/{tenant}/{user}/{invitation}``. One activity does the rest: it draws the
token, stores only its hash and sends the e-mail with the invitation id as the mailer's
idempotency key. The token never passes through the workflow, so it is in no history.

Nothing here needs undoing: an invitation that was revoked, accepted or expired before the
e-mail went out is skipped (SKIPPED, with the reason), and a sent e-mail cannot be recalled.
The mail service may be down for a while, so the activity is retried with a growing interval
for up to a day; an address the mail service refuses fails the workflow at once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.user_invitation_types import (
        INVITATION_NOT_SENT_ERROR,
        SEND_INVITATION_ACTIVITY,
        WORKFLOW_NAME,
        InvitationDelivery,
        InvitationRequest,
    )
    from workflows.user_invitation_types import REQUEST_TYPE as INVITATION_REQUEST_TYPE

SEND_TIMEOUT = timedelta(seconds=30)
"""One attempt: two short transactions and one message handed to the mail service."""
SEND_DEADLINE = timedelta(days=1)
"""All attempts together; the invitation itself stays valid for a week."""
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)


@workflow.defn(name=WORKFLOW_NAME)
class UserInvitation:
    @workflow.run
    async def run(self, request: InvitationRequest) -> InvitationDelivery:
        workflow.upsert_search_attributes(
            [
                TENANT_ID.value_set(request.tenant_id),
                USER_ID.value_set(request.user_id),
                REQUEST_TYPE.value_set(INVITATION_REQUEST_TYPE),
            ]
        )
        try:
            delivery: InvitationDelivery = await workflow.execute_activity(
                SEND_INVITATION_ACTIVITY,
                request,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_DEADLINE,
                retry_policy=SEND_RETRY,
                result_type=InvitationDelivery,
            )
        except ActivityError as error:
            raise ApplicationError(
                f"the invitation {request.invitation_id} was not sent: {error.cause or error}",
                type=INVITATION_NOT_SENT_ERROR,
                non_retryable=True,
            ) from error
        if delivery.reason is not None:
            workflow.logger.info("invitation %s skipped: %s", request.invitation_id, delivery.reason)
        return delivery
