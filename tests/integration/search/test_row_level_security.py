"""The search database as its application role: forced row-level security, no way around it."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from api.common.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.security]

INSERT = (
    "INSERT INTO search_documents (tenant_id, poc_id, version, user_id, name, created_at, updated_at)"
    " VALUES ($1, $2, 1, $3, 'RLS probe', now(), now())"
)


async def test_the_application_role_sees_only_the_tenant_of_its_transaction(
    search_settings: Settings,
) -> None:
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    connection = await asyncpg.connect(search_settings.database_url("search"))
    try:
        assert await connection.fetchval("SELECT current_user") == search_settings.app_role("search")
        for tenant in (tenant_a, tenant_b):
            async with connection.transaction():
                await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
                await connection.execute(INSERT, tenant, str(uuid.uuid4()), str(uuid.uuid4()))
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_a)
            visible = await connection.fetch("SELECT DISTINCT tenant_id::text FROM search_documents")
            assert [row[0] for row in visible] == [tenant_a]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(INSERT, tenant_b, str(uuid.uuid4()), str(uuid.uuid4()))
        assert await connection.fetchval("SELECT count(*) FROM search_documents") == 0
        assert await connection.fetchval("SELECT count(*) FROM search_terms") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("ALTER TABLE search_documents NO FORCE ROW LEVEL SECURITY")
    finally:
        await connection.close()
