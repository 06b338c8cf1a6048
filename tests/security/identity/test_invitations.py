"""Invitation tokens: only their hash is stored, they work once even under a race, accepting is
rate limited per address, and the invitation tables are isolated by row-level security as the
application role."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from temporalio.client import Client

from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.identity.tables import UserInvitation, UserInvitationToken
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
    bearer,
    identity_settings,
    login,
    running_client,
    runtime_of,
    seed_tenant,
)
from workflows.user_invitation_types import invitation_workflow_id

pytestmark = pytest.mark.security

PASSWORD = "the invitee's own passphrase"
IDENTITY_TABLES = (
    "tenants",
    "users",
    "sessions",
    "refresh_tokens",
    "audit_log",
    "user_invitations",
    "user_invitation_tokens",
)


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[IdentityClient]:
    async with invitation_client(settings) as test_client:
        yield test_client


@pytest.fixture
async def superuser(stack_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """Sees every row (row-level security does not apply to it): the witness of what is stored."""
    connection = await asyncpg.connect(stack_settings.superuser_dsn("identity"))
    try:
        yield connection
    finally:
        await connection.close()


async def _invited(client: IdentityClient, settings: Settings) -> tuple[UUID, str, UUID, str]:
    """A tenant with one invited user whose e-mail has arrived: tenant, user, invitation, token."""
    seeded = await seed_tenant(client)
    owner = bearer(await login(client, seeded.slug, seeded.owner.email))
    created = await invite(client, owner, f"ivy@{seeded.slug}.example.com")
    invitation_id = await open_invitation_id(client, seeded.tenant_id, created["userId"])
    mail = await invitation_email(settings, invitation_id)
    return seeded.tenant_id, created["userId"], invitation_id, mail.token


async def test_only_the_tokens_hash_is_stored_anywhere(
    client: IdentityClient, settings: Settings, superuser: asyncpg.Connection
) -> None:
    tenant_id, user_id, invitation_id, token = await _invited(client, settings)
    assert (await accept(client, token, PASSWORD)).status_code == 200

    stored = await superuser.fetch(
        "SELECT token_hash FROM user_invitation_tokens WHERE invitation_id = $1", invitation_id
    )
    assert [row["token_hash"] for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    for table in IDENTITY_TABLES:
        query = f"SELECT count(*) FROM {table} AS t WHERE strpos(t::text, $1) > 0"  # noqa: S608 - constant names
        leaks = await superuser.fetchval(query, token)
        assert leaks == 0, f"the token is stored in {table}"
    temporal: Client = await connect_client(settings)
    history = await temporal.get_workflow_handle(
        invitation_workflow_id(str(tenant_id), user_id, str(invitation_id))
    ).fetch_history()
    recorded = history.to_json()
    assert str(invitation_id) in recorded, "this is the invitation's own history"
    assert token not in recorded, "the token never enters workflow history"
    assert hashlib.sha256(token.encode()).hexdigest() not in recorded


async def test_two_acceptances_of_one_token_at_once_let_one_through(
    client: IdentityClient, settings: Settings
) -> None:
    _, _, _, token = await _invited(client, settings)

    first, second = await asyncio.gather(
        accept(client, token, PASSWORD), accept(client, token, "a rival passphrase 2026")
    )

    assert sorted([first.status_code, second.status_code]) == [200, 410]
    loser = first if first.status_code == 410 else second
    assert loser.json()["code"] == "invitation-used"


async def test_accepting_is_rate_limited_per_address(stack_settings: Settings) -> None:
    settings = identity_settings(stack_settings, login_rate_per_minute=3)
    async with running_client(settings) as limited:
        await runtime_of(limited).throttle.clear()
        answers = [(await accept(limited, f"guess-{attempt}", PASSWORD)).status_code for attempt in range(4)]
        elsewhere = await accept(limited.from_address("198.51.100.7"), "guess-elsewhere", PASSWORD)
        login_still_counts_apart = await limited.post(
            "/v1/auth/login", json={"tenantSlug": "nobody", "email": "a@b.example", "password": "whatever!!"}
        )

    assert answers[:3] == [400, 400, 400]
    assert answers[3] == 429
    assert elsewhere.status_code == 400
    assert login_still_counts_apart.status_code == 401


async def test_invitations_are_isolated_by_row_level_security_as_the_app_role(
    client: IdentityClient, settings: Settings, superuser: asyncpg.Connection
) -> None:
    tenant_a, _, invitation_a, _ = await _invited(client, settings)
    tenant_b, user_b, invitation_b, _ = await _invited(client, settings)
    engine = runtime_of(client).engine

    async with tenant_transaction(engine, tenant_a) as transaction:
        role = await transaction.connection.fetchval("SELECT current_user")
        invitations = await UserInvitation.select(UserInvitation.invitation_id, UserInvitation.tenant_id)
        tokens = await UserInvitationToken.select(UserInvitationToken.tenant_id)
        other = await UserInvitation.select().where(UserInvitation.invitation_id == invitation_b)

    assert role == "identity_app"
    assert {row["tenant_id"] for row in invitations} == {tenant_a}
    assert invitation_a in {row["invitation_id"] for row in invitations}
    assert tokens
    assert {row["tenant_id"] for row in tokens} == {tenant_a}
    assert other == []
    assert await UserInvitation.select(UserInvitation.invitation_id) == []  # no tenant, no rows
    assert await UserInvitationToken.count() == 0

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_transaction(engine, tenant_a):
            await UserInvitation.insert(
                UserInvitation(
                    invitation_id=uuid4(),
                    tenant_id=tenant_b,
                    user_id=user_b,
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                )
            )
    flags = await superuser.fetch(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname IN ('user_invitations', 'user_invitation_tokens')"
    )
    assert {(row["relname"], row["relrowsecurity"], row["relforcerowsecurity"]) for row in flags} == {
        ("user_invitations", True, True),
        ("user_invitation_tokens", True, True),
    }
