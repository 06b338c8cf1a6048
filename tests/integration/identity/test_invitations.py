"""Invitations end to end: an OWNER invites, the e-mail arrives with a token, the person accepts.

A real identity worker serves the app's UserInvitation workflows on a queue of its own and
writes the e-mails into the session's mailbox folder, where each test reads its token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from api.common.settings import Settings
from api.identity import audit
from api.identity.tables import UserInvitation
from temporal.client import connect_client
from tests.integration.identity.invitation_support import (
    accept,
    invitation_client,
    invitation_email,
    invite,
    open_invitation_id,
)
from tests.integration.identity.support import (
    IdentityClient,
    SeededTenant,
    bearer,
    login,
    runtime_of,
    seed_tenant,
)
from workflows.user_invitation_types import SENT, InvitationDelivery, invitation_workflow_id

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a brand new passphrase 2026"


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[IdentityClient]:
    """This module's app: its invitation workflows reach a real worker and the mailbox."""
    async with invitation_client(settings) as test_client:
        yield test_client


@pytest.fixture
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings)


async def _owner(client: IdentityClient, **tenant: Any) -> tuple[SeededTenant, dict[str, str]]:
    seeded = await seed_tenant(client, **tenant)
    return seeded, bearer(await login(client, seeded.slug, seeded.owner.email))


async def test_an_invited_user_accepts_and_then_logs_in_with_the_new_password(
    client: IdentityClient, settings: Settings, temporal: Client
) -> None:
    seeded, owner = await _owner(client)
    email = f"ivy@{seeded.slug}.example.com"
    created = await invite(client, owner, email, locale="en")
    invitation_id = await open_invitation_id(client, seeded.tenant_id, created["userId"])

    mail = await invitation_email(settings, invitation_id)

    assert mail.message["To"] == email
    assert mail.message["Subject"] == f'You are invited to join "{seeded.tenant.name}" on Mr Bill'
    assert mail.message["Content-Language"] == "en"
    assert f'Olivia Owner invited you to join "{seeded.tenant.name}"' in mail.text
    assert f"\n{mail.token}\n" in mail.text
    assert f"http://{settings.edge_host}:{settings.edge_port}/invitations/accept?token=" in mail.text
    workflow = temporal.get_workflow_handle(
        invitation_workflow_id(str(seeded.tenant_id), created["userId"], str(invitation_id)),
        result_type=InvitationDelivery,
    )
    delivery = await workflow.result()
    assert delivery.status == SENT
    assert delivery.message_id == mail.message["Message-ID"]

    accepted = await accept(client, mail.token, NEW_PASSWORD, fullName="Ivy Invitee-Silva")

    assert accepted.status_code == 200, accepted.text
    tokens = accepted.json()
    assert tokens["userId"] == created["userId"]
    assert tokens["tenantId"] == str(seeded.tenant_id)
    assert tokens["tokenType"] == "Bearer"
    me = (await client.get("/v1/me", headers=bearer(tokens))).json()
    assert (me["status"], me["fullName"], me["locale"]) == ("ACTIVE", "Ivy Invitee-Silva", "en")
    assert me["lastLoginAt"] is not None
    refreshed = await client.post("/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200
    again = await login(client, seeded.slug, email, NEW_PASSWORD)
    assert again["userId"] == created["userId"]
    async with runtime_of(client).tenant_scope(seeded.tenant_id):
        events, _ = await audit.list_events(seeded.tenant_id, action=None, offset=0, limit=20)
    actions = {event.action: event for event in events}
    assert actions["invitation_created"].actor_user_id == seeded.owner.user_id
    assert actions["invitation_created"].details["invitationId"] == str(invitation_id)
    accepted_event = actions["invitation_accepted"]
    assert str(accepted_event.actor_user_id) == created["userId"]
    assert accepted_event.details["invitationId"] == str(invitation_id)
    assert accepted_event.details["fullNameChanged"] is True


async def test_the_invitation_speaks_the_tenants_language_when_the_user_has_none(
    client: IdentityClient, settings: Settings
) -> None:
    seeded, owner = await _owner(client, default_locale="pt_BR")
    created = await invite(client, owner, f"bia@{seeded.slug}.example.com", full_name="Bia Souza")

    mail = await invitation_email(
        settings, await open_invitation_id(client, seeded.tenant_id, created["userId"])
    )

    assert mail.message["Subject"] == f'Convite para participar de "{seeded.tenant.name}" no Mr Bill'
    assert mail.message["Content-Language"] == "pt-BR"
    assert mail.text.startswith("Olá, Bia Souza,")
    assert "O seu código de convite:" in mail.text


async def test_a_token_works_only_once(client: IdentityClient, settings: Settings) -> None:
    seeded, owner = await _owner(client)
    created = await invite(client, owner, f"once@{seeded.slug}.example.com")
    mail = await invitation_email(
        settings, await open_invitation_id(client, seeded.tenant_id, created["userId"])
    )
    assert (await accept(client, mail.token, NEW_PASSWORD)).status_code == 200

    reused = await accept(client, mail.token, "another passphrase 2026", fullName="Mallory")

    assert reused.status_code == 410
    assert reused.headers["content-type"].startswith("application/problem+json")
    assert reused.json()["code"] == "invitation-used"
    assert "userId" not in reused.json()
    await login(client, seeded.slug, created["email"], NEW_PASSWORD)  # the first password stands
    user = await client.get(f"/v1/users/{created['userId']}", headers=owner)
    assert user.json()["fullName"] == "Ivy Invitee"


async def test_an_expired_invitation_is_refused(client: IdentityClient, settings: Settings) -> None:
    seeded, owner = await _owner(client)
    created = await invite(client, owner, f"late@{seeded.slug}.example.com")
    invitation_id = await open_invitation_id(client, seeded.tenant_id, created["userId"])
    mail = await invitation_email(settings, invitation_id)
    async with runtime_of(client).tenant_scope(seeded.tenant_id):  # a week goes by
        await UserInvitation.update(
            {UserInvitation.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
        ).where(UserInvitation.invitation_id == invitation_id)

    expired = await accept(client, mail.token, NEW_PASSWORD)
    in_portuguese = await client.post(
        "/v1/invitations/accept",
        json={"token": mail.token, "password": NEW_PASSWORD},
        headers={"Accept-Language": "pt-BR"},
    )

    assert expired.status_code == 410
    assert expired.json()["code"] == "invitation-expired"
    assert expired.json()["detail"].startswith("This invitation has expired.")
    assert in_portuguese.json()["detail"].startswith("Este convite expirou.")
    user = await client.get(f"/v1/users/{created['userId']}", headers=owner)
    assert user.json()["status"] == "INVITED"
    refused = await client.post(
        "/v1/auth/login",
        json={"tenantSlug": seeded.slug, "email": created["email"], "password": NEW_PASSWORD},
    )
    assert refused.status_code == 401


@pytest.mark.parametrize("token", ["not-a-token", "x" * 43, "x" * 200])
async def test_an_unknown_token_says_nothing_about_any_user(client: IdentityClient, token: str) -> None:
    response = await accept(client, token, NEW_PASSWORD)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid-invitation"
    assert body["detail"].startswith("This invitation is not valid.")
    assert not {"userId", "tenantId", "email"} & set(body)


async def test_a_resend_revokes_the_old_token(client: IdentityClient, settings: Settings) -> None:
    seeded, owner = await _owner(client)
    created = await invite(client, owner, f"resend@{seeded.slug}.example.com")
    first_id = await open_invitation_id(client, seeded.tenant_id, created["userId"])
    first = await invitation_email(settings, first_id)

    resent = await client.post(f"/v1/users/{created['userId']}/invitations", headers=owner)

    assert resent.status_code == 202, resent.text
    body = resent.json()
    assert body["invitationId"] != str(first_id)
    assert body["userId"] == created["userId"]
    assert body["workflowId"] == invitation_workflow_id(
        str(seeded.tenant_id), created["userId"], body["invitationId"]
    )
    assert datetime.fromisoformat(body["expiresAt"]) - datetime.fromisoformat(body["createdAt"]) == timedelta(
        days=7
    )
    assert str(await open_invitation_id(client, seeded.tenant_id, created["userId"])) == body["invitationId"]
    second = await invitation_email(settings, body["invitationId"])
    assert second.token != first.token
    old = await accept(client, first.token, NEW_PASSWORD)
    assert old.status_code == 410
    assert old.json()["code"] == "invitation-revoked"
    assert (await accept(client, second.token, NEW_PASSWORD)).status_code == 200
    async with runtime_of(client).tenant_scope(seeded.tenant_id):
        events, _ = await audit.list_events(seeded.tenant_id, action="invitation_created", offset=0, limit=5)
    assert events[0].details["resent"] is True
    assert events[0].details["revoked"] == [str(first_id)]


async def test_who_may_resend_an_invitation(client: IdentityClient, settings: Settings) -> None:
    seeded, owner = await _owner(client, members=(("ada", "ADMIN"), ("max", "MEMBER")))
    other, other_owner = await _owner(client)
    admin = bearer(await login(client, seeded.slug, seeded.users["ada"].email))
    member = bearer(await login(client, seeded.slug, seeded.users["max"].email))
    invited = await invite(client, owner, f"new@{seeded.slug}.example.com")
    invited_owner = await invite(client, owner, f"co-owner@{seeded.slug}.example.com", role="OWNER")
    before = await open_invitation_id(client, seeded.tenant_id, invited["userId"])

    by_member = await client.post(f"/v1/users/{invited['userId']}/invitations", headers=member)
    by_other_tenant = await client.post(f"/v1/users/{invited['userId']}/invitations", headers=other_owner)
    by_admin_for_owner = await client.post(f"/v1/users/{invited_owner['userId']}/invitations", headers=admin)
    for_active_user = await client.post(f"/v1/users/{seeded.users['max'].user_id}/invitations", headers=owner)
    by_admin = await client.post(f"/v1/users/{invited['userId']}/invitations", headers=admin)

    assert by_member.status_code == 403
    assert by_other_tenant.status_code == 404
    assert by_other_tenant.json()["code"] == "user-not-found"
    assert by_admin_for_owner.status_code == 403
    assert for_active_user.status_code == 409
    assert for_active_user.json()["code"] == "user-not-invited"
    assert by_admin.status_code == 202
    assert other.tenant_id != seeded.tenant_id
    after = await open_invitation_id(client, seeded.tenant_id, invited["userId"])
    assert str(after) == by_admin.json()["invitationId"] != str(before)


async def test_a_weak_password_is_refused_and_the_invitation_stays_usable(
    client: IdentityClient, settings: Settings
) -> None:
    seeded, owner = await _owner(client)
    email = f"weak@{seeded.slug}.example.com"
    created = await invite(client, owner, email)
    mail = await invitation_email(
        settings, await open_invitation_id(client, seeded.tenant_id, created["userId"])
    )

    short = await client.post(
        "/v1/invitations/accept",
        json={"token": mail.token, "password": "short"},
        headers={"Accept-Language": "en"},
    )
    with_email = await accept(client, mail.token, f"my password is {email}")
    without_password = await client.post("/v1/invitations/accept", json={"token": mail.token})

    assert short.status_code == 422
    assert short.json()["errors"] == [{"field": "password", "message": "Must have at least 12 characters."}]
    assert with_email.status_code == 422
    assert with_email.json()["errors"][0]["field"] == "password"
    assert without_password.status_code == 422
    assert (await accept(client, mail.token, NEW_PASSWORD)).status_code == 200
