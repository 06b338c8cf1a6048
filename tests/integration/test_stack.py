"""The embedded stack is real: the application role cannot bypass row-level security."""

from __future__ import annotations

import asyncpg
import pytest

from api.common.settings import SERVICES, Settings
from infra.database import migrate

pytestmark = pytest.mark.integration


async def test_application_role_owns_nothing_and_cannot_bypass_rls(stack_settings: Settings) -> None:
    connection = await asyncpg.connect(stack_settings.database_url("identity"))
    try:
        role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert role is not None
        assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
        owned = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        assert owned == 0
        forced = await connection.fetch(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind = 'r' AND relname <> 'migration' AND NOT (relrowsecurity AND relforcerowsecurity)"
        )
        assert [r["relname"] for r in forced] == []
    finally:
        await connection.close()


async def test_without_a_tenant_no_rows_are_visible(stack_settings: Settings) -> None:
    admin = await asyncpg.connect(stack_settings.superuser_dsn("identity"))
    app = await asyncpg.connect(stack_settings.database_url("identity"))
    try:
        await admin.execute(
            "INSERT INTO tenants (name, slug, domain)"
            " VALUES ('Visible', 'rls-probe', 'rls-probe.mrbill.local')"
        )
        assert await app.fetchval("SELECT count(*) FROM tenants WHERE slug = 'rls-probe'") == 0
        async with app.transaction():
            tenant_id = await admin.fetchval("SELECT tenant_id FROM tenants WHERE slug = 'rls-probe'")
            await app.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
            assert await app.fetchval("SELECT count(*) FROM tenants") == 1
        assert await app.fetchval("SELECT count(*) FROM tenants") == 0
    finally:
        await admin.execute("DELETE FROM tenants WHERE slug = 'rls-probe'")
        await admin.close()
        await app.close()


async def test_every_database_records_its_own_migrations_so_migrating_again_changes_nothing(
    stack_settings: Settings,
) -> None:
    """The session migrated every service in this process; doing it again must be a no-op, which
    holds only if each service's applied migrations were recorded in its own database."""
    for service in SERVICES:
        await migrate(stack_settings, service)
    for service in SERVICES:
        database = stack_settings.database_name(service)
        connection = await asyncpg.connect(stack_settings.superuser_dsn(database))
        try:
            rows = await connection.fetch("SELECT DISTINCT app_name FROM migration")
            apps = {row["app_name"] for row in rows}
        finally:
            await connection.close()
        assert apps == {service}
