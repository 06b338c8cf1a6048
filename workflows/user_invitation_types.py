"""Input and result of the UserInvitation workflow, shared by identity's API and its worker."""

from __future__ import annotations

from dataclasses import dataclass

TASK_QUEUE = "identity"
WORKFLOW_NAME = "UserInvitation"
REQUEST_TYPE = "USER_INVITATION"
"""Value of the RequestType search attribute on every invitation workflow."""

SEND_INVITATION_ACTIVITY = "send_user_invitation"

SENT = "SENT"
SKIPPED = "SKIPPED"

INVITATION_NOT_SENT_ERROR = "InvitationNotSent"
"""The workflow's failure type when the e-mail can never be delivered (the address was refused)."""


def invitation_workflow_id(tenant_id: str, user_id: str, invitation_id: str) -> str:
    """Deterministic: starting the same invitation twice never sends two e-mails."""
    return f"user-invitation/{tenant_id}/{user_id}/{invitation_id}"


@dataclass
class InvitationRequest:
    """The workflow's input and its activity's argument: ids only.

    The token is drawn inside the activity, so it never enters the workflow's history; the
    e-mail address, names and language are read there too, from the invitation's tenant.
    """

    tenant_id: str
    user_id: str
    invitation_id: str


@dataclass
class InvitationDelivery:
    status: str
    """SENT, or SKIPPED when the invitation was closed (revoked, accepted, expired) before sending."""
    message_id: str | None = None
    reason: str | None = None
    """Why it was skipped: ``not_found``, ``revoked``, ``accepted``, ``expired`` or ``not_invited``."""
