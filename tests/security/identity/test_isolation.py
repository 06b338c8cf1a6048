"""Tenant isolation, checked as the application role: another tenant's rows do not exist for you."""

from __future__ import annotations

import hashlib
import uuid

import asyncpg
import pytest

from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.identity.tables import AuditLog, RefreshToken, Session, Tenant, User
from tests.integration.identity.support import IdentityClient, bearer, login, runtime_of, seed_tenant

pytestmark = pytest.mark.security


async def test_every_endpoint_answers_404_for_another_tenants_ids(client: IdentityClient) -> None:
    tenant_a = await seed_tenant(client)
    tenant_b = await seed_tenant(client, members=(("bia", "MEMBER"),))
    a_owner = await login(client, tenant_a.slug, tenant_a.owner.email)
    b_owner = await login(client, tenant_b.slug, tenant_b.owner.email)
    b_sessions = (await client.get("/v1/me/sessions", headers=bearer(b_owner))).json()
    b_user = tenant_b.users["bia"].user_id
    headers = bearer(a_owner)

    probes = [
        ("GET", f"/v1/users/{b_user}", None),
        ("GET", f"/v1/users/{tenant_b.owner.user_id}", None),
        ("PATCH", f"/v1/users/{b_user}", {"fullName": "Renamed by A", "role": "ADMIN"}),
        ("POST", f"/v1/users/{b_user}/deactivate", None),
        ("DELETE", f"/v1/me/sessions/{b_sessions[0]['sessionId']}", None),
    ]
    for method, path, body in probes:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        unknown = await client.request(
            method, path.replace(str(b_user), str(uuid.uuid4())), json=body, headers=headers
        )
        assert unknown.json()["code"] == response.json()["code"]

    searched = await client.get("/v1/users", params={"q": tenant_b.slug}, headers=headers)
    assert searched.json()["totalItems"] == 0
    a_events = await client.get("/v1/audit-events", params={"pageSize": 100}, headers=headers)
    assert {event["tenantId"] for event in a_events.json()["items"]} == {str(tenant_a.tenant_id)}
    # Nothing of B changed, and B's session still works.
    bia = await client.get(f"/v1/users/{b_user}", headers=bearer(b_owner))
    assert (bia.json()["fullName"], bia.json()["role"], bia.json()["status"]) == ("Bia", "MEMBER", "ACTIVE")
    assert (await client.get("/v1/me", headers=bearer(b_owner))).status_code == 200


async def test_queries_without_a_tenant_filter_still_see_one_tenant(client: IdentityClient) -> None:
    tenant_a = await seed_tenant(client, members=(("ana", "ADMIN"),))
    tenant_b = await seed_tenant(client, members=(("bia", "MEMBER"),))
    await login(client, tenant_a.slug, tenant_a.owner.email)
    await login(client, tenant_b.slug, tenant_b.owner.email)
    engine = runtime_of(client).engine

    async with tenant_transaction(engine, tenant_a.tenant_id) as transaction:
        role = await transaction.connection.fetchval("SELECT current_user")
        users = await User.select(User.tenant_id, User.email)
        tenants = await Tenant.select(Tenant.tenant_id)
        for table in (Session, RefreshToken, AuditLog):
            rows = await table.select(table.tenant_id)
            assert rows, table
            assert {row["tenant_id"] for row in rows} == {tenant_a.tenant_id}, table
        raw = await transaction.connection.fetch("SELECT DISTINCT tenant_id FROM users")

    assert role == "identity_app"
    assert {row["tenant_id"] for row in users} == {tenant_a.tenant_id}
    assert len(users) == 2
    assert [row["tenant_id"] for row in tenants] == [tenant_a.tenant_id]
    assert [row["tenant_id"] for row in raw] == [tenant_a.tenant_id]
    # Outside any tenant transaction nothing is visible at all.
    assert await User.select(User.user_id) == []
    assert await Tenant.count() == 0


async def test_writing_into_another_tenant_is_refused_by_the_database(client: IdentityClient) -> None:
    tenant_a = await seed_tenant(client)
    tenant_b = await seed_tenant(client)
    engine = runtime_of(client).engine

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(engine, tenant_a.tenant_id):
            await AuditLog.insert(AuditLog(tenant_id=tenant_b.tenant_id, action="forged"))
    async with tenant_transaction(engine, tenant_a.tenant_id):
        moved = (
            await User.update({User.tenant_id: tenant_b.tenant_id})
            .where(User.user_id == tenant_b.owner.user_id)
            .returning(User.user_id)
        )
    assert moved == []


async def test_secrets_are_stored_only_as_hashes(client: IdentityClient, settings: Settings) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    owner = await asyncpg.connect(settings.superuser_dsn("identity"))
    try:
        stored = await owner.fetch(
            "SELECT token_hash FROM refresh_tokens WHERE tenant_id = $1", seeded.tenant_id
        )
        password_hash = await owner.fetchval(
            "SELECT password_hash FROM users WHERE user_id = $1", seeded.owner.user_id
        )
    finally:
        await owner.close()
    assert [row["token_hash"] for row in stored] == [
        hashlib.sha256(tokens["refreshToken"].encode()).hexdigest()
    ]
    assert password_hash.startswith("$argon2id$")
    assert seeded.owner.password not in password_hash
