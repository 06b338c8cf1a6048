"""Invitations end to end: the identity app and a real identity worker on a task queue of their own.

The worker runs the real `IdentityActivities` (the application role, the session's mailbox
folder), so an invitation's e-mail lands in ``settings.mailbox_dir`` as the developer sees it
in ``var/mailbox``; tests read the token from there, as the invited person would.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import Client

from activities.identity import IdentityActivities, invitation_email_key
from activities.mail import MailboxMailer, read_message
from api.common.settings import Settings
from api.identity.tables import UserInvitation
from temporal.client import connect_client
from temporal.worker import build_worker
from tests.integration.identity.support import IdentityClient, running_client, runtime_of
from workflows.user_invitation_types import TASK_QUEUE

TOKEN_IN_LINK = re.compile(r"/invitations/accept\?token=([A-Za-z0-9_-]+)")
EMAIL_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class InvitationEmail:
    message: EmailMessage
    token: str

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        return str(body.get_content())


@asynccontextmanager
async def invitation_worker(settings: Settings, temporal: Client) -> AsyncIterator[str]:
    """A real identity worker polling a queue of its own, while the block lasts; yields the queue."""
    queue = f"identity-invitations-{uuid.uuid4().hex[:8]}"
    activities = IdentityActivities.from_settings(settings)
    async with (
        activities,
        build_worker(TASK_QUEUE, temporal, settings, task_queue=queue, activities=activities),
    ):
        yield queue


@asynccontextmanager
async def invitation_client(settings: Settings) -> AsyncIterator[IdentityClient]:
    """The identity app whose invitation workflows a real worker serves."""
    temporal = await connect_client(settings)
    async with (
        invitation_worker(settings, temporal) as queue,
        running_client(settings, invitation_task_queue=queue) as client,
    ):
        yield client


async def open_invitation_id(client: IdentityClient, tenant_id: UUID, user_id: UUID) -> UUID:
    """The user's open invitation, read as the application role in the tenant's scope."""
    async with runtime_of(client).tenant_scope(tenant_id):
        rows: list[dict[str, Any]] = await UserInvitation.select(UserInvitation.invitation_id).where(
            (UserInvitation.user_id == user_id)
            & UserInvitation.accepted_at.is_null()
            & UserInvitation.revoked_at.is_null()
        )
    [row] = rows
    invitation_id: UUID = row["invitation_id"]
    return invitation_id


async def invitation_email(settings: Settings, invitation_id: UUID | str) -> InvitationEmail:
    """The invitation's e-mail, once the worker has delivered it, and the token of its link."""
    path = MailboxMailer(settings.mailbox_dir).path_for(invitation_email_key(str(invitation_id)))
    deadline = time.monotonic() + EMAIL_WAIT_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"no invitation e-mail {path.name} after {EMAIL_WAIT_SECONDS} s")
        await asyncio.sleep(0.1)
    message = await asyncio.to_thread(read_message, path)
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = TOKEN_IN_LINK.search(str(body.get_content()))
    assert found is not None, "the e-mail carries the accept link with its token"
    return InvitationEmail(message=message, token=found.group(1))


async def invite(
    client: IdentityClient, headers: dict[str, str], email: str, full_name: str = "Ivy Invitee", **extra: Any
) -> dict[str, Any]:
    """Create a user without a password, as an OWNER or ADMIN does; the created user."""
    response = await client.post(
        "/v1/users", json={"email": email, "fullName": full_name, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["status"] == "INVITED"
    return created


async def accept(client: IdentityClient, token: str, password: str, **extra: Any) -> Any:
    """POST /v1/invitations/accept, answered in English."""
    return await client.post(
        "/v1/invitations/accept",
        json={"token": token, "password": password, **extra},
        headers={"Accept-Language": "en"},
    )
