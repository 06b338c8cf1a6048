"""The real onboarding activities, called directly: idempotent, as the application role, RLS-bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.identity import IdentityActivities, branding_key, storage_prefix
from activities.mail import MailboxMailer
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.identity.onboarding import bound_table
from api.identity.tables import User
from tests.integration.onboarding.conftest import real_activities, unique_slug, welcome_path
from workflows.tenant_onboarding_types import (
    NewOwner,
    NewTenant,
    TenantRef,
    TenantStoragePrefix,
    UserRef,
    WelcomeEmail,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def activities(stack_settings: Settings) -> AsyncIterator[IdentityActivities]:
    async with real_activities(stack_settings) as opened:
        yield opened


def _tenant(slug: str, tenant_id: str | None = None, plan: str = "FREE") -> NewTenant:
    return NewTenant(
        tenant_id=tenant_id or str(uuid4()),
        name=f"Empresa {slug}",
        slug=slug,
        domain=f"{slug}.mrbill.local",
        plan=plan,
        default_locale="pt-BR",
    )


def _owner(tenant_id: str, user_id: str | None = None) -> NewOwner:
    return NewOwner(
        tenant_id=tenant_id,
        user_id=user_id or str(uuid4()),
        email="owner@example.com",
        password_hash="$argon2id$hash",
        full_name="Ana Souza",
        locale="pt_BR",
    )


async def test_the_engine_is_the_application_role(activities: IdentityActivities) -> None:
    async with activities.engine.transaction() as transaction:
        role = await transaction.connection.fetchval("SELECT current_user")
    assert role == "identity_app"


async def test_every_step_and_undo_can_run_twice(
    activities: IdentityActivities, stack_settings: Settings, superuser: asyncpg.Connection
) -> None:
    env = ActivityEnvironment()
    tenant = _tenant(unique_slug("idem"))
    owner = _owner(tenant.tenant_id)
    prefix = TenantStoragePrefix(tenant_id=tenant.tenant_id, tenant_name=tenant.name, locale="en")
    email = WelcomeEmail(
        tenant_id=tenant.tenant_id,
        user_id=owner.user_id,
        tenant_name=tenant.name,
        slug=tenant.slug,
        email=owner.email,
        full_name=owner.full_name,
        locale="en",
    )
    for _ in range(2):
        await env.run(activities.create_tenant, tenant)
        await env.run(activities.create_owner_user, owner)
        await env.run(activities.create_storage_prefix, prefix)
        receipt = await env.run(activities.send_welcome_email, email)
        await env.run(activities.activate_tenant, TenantRef(tenant.tenant_id))

    assert await superuser.fetchval("SELECT count(*) FROM tenants WHERE slug = $1", tenant.slug) == 1
    assert (
        await superuser.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1::uuid", tenant.tenant_id)
        == 1
    )
    assert await activities.storage.list(storage_prefix(tenant.tenant_id)) == [branding_key(tenant.tenant_id)]
    mail = welcome_path(stack_settings, tenant.tenant_id, owner.user_id)
    assert [path for path in MailboxMailer(stack_settings.mailbox_dir).messages() if path == mail] == [mail]
    assert receipt.message_id

    for _ in range(2):
        await env.run(activities.delete_storage_prefix, TenantStoragePrefix(tenant_id=tenant.tenant_id))
        await env.run(activities.delete_user, UserRef(tenant.tenant_id, owner.user_id))
        await env.run(activities.delete_tenant, TenantRef(tenant.tenant_id))

    assert (
        await superuser.fetchval("SELECT count(*) FROM tenants WHERE tenant_id = $1::uuid", tenant.tenant_id)
        == 0
    )
    assert await activities.storage.list(storage_prefix(tenant.tenant_id)) == []


async def test_the_owner_is_written_under_the_tenant_context_only(
    activities: IdentityActivities, superuser: asyncpg.Connection
) -> None:
    env = ActivityEnvironment()
    tenant = _tenant(unique_slug("rls"))
    other = _tenant(unique_slug("rls"))
    await env.run(activities.create_tenant, tenant)
    await env.run(activities.create_tenant, other)
    owner = _owner(tenant.tenant_id)
    await env.run(activities.create_owner_user, owner)

    users = bound_table(activities.engine, User)
    async with tenant_transaction(activities.engine, other.tenant_id):
        seen_from_other = await users.select(users.user_id)
    async with tenant_transaction(activities.engine, tenant.tenant_id):
        seen_from_own = await users.select(users.user_id)
    assert seen_from_other == []
    assert [str(row["user_id"]) for row in seen_from_own] == [owner.user_id]

    for created in (tenant, other):
        await env.run(activities.delete_tenant, TenantRef(created.tenant_id))


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ({"plan": "GOLD"}, "InvalidInput"),
        ({"name": "x" * 101}, "InvalidInput"),
        ({"slug": "Not A Slug"}, "InvalidInput"),
    ],
)
async def test_bad_tenant_input_fails_without_retry_and_writes_nothing(
    activities: IdentityActivities, superuser: asyncpg.Connection, change: dict[str, str], error_type: str
) -> None:
    tenant = _tenant(unique_slug("bad"))
    for field, value in change.items():
        setattr(tenant, field, value)
    with pytest.raises(ApplicationError) as failure:
        await ActivityEnvironment().run(activities.create_tenant, tenant)

    assert failure.value.non_retryable
    assert failure.value.type == error_type
    assert (
        await superuser.fetchval("SELECT count(*) FROM tenants WHERE tenant_id = $1::uuid", tenant.tenant_id)
        == 0
    )


async def test_a_taken_domain_is_reported_as_such(
    activities: IdentityActivities, superuser: asyncpg.Connection
) -> None:
    env = ActivityEnvironment()
    first = _tenant(unique_slug("dom"))
    await env.run(activities.create_tenant, first)
    second = _tenant(unique_slug("dom"))
    second.domain = first.domain
    with pytest.raises(ApplicationError) as failure:
        await env.run(activities.create_tenant, second)

    assert (failure.value.type, failure.value.non_retryable) == ("DomainTaken", True)
    await env.run(activities.delete_tenant, TenantRef(first.tenant_id))
    assert await superuser.fetchval("SELECT count(*) FROM tenants WHERE domain = $1", first.domain) == 0
