"""The migrated dojo schema: database ``dojo``, Piccolo's tables describe it, RLS forced everywhere."""

from __future__ import annotations

import asyncpg
import pytest

from api.common.settings import Settings
from realtime.dojos.tables import DOJO_TABLES

pytestmark = pytest.mark.integration

TABLES = {"dojos", "dojo_participants", "dojo_code_snapshots", "dojo_chat_messages"}


async def test_the_service_owns_a_database_named_dojo_with_roles_named_after_it(settings: Settings) -> None:
    assert settings.database_name("realtime") == "dojo"
    assert (settings.owner_role("realtime"), settings.app_role("realtime")) == ("dojo_owner", "dojo_app")
    assert settings.database_url("realtime").endswith("/dojo")
    connection = await asyncpg.connect(settings.database_url("realtime"))
    try:
        assert await connection.fetchval("SELECT current_database()") == "dojo"
        assert await connection.fetchval("SELECT current_user") == "dojo_app"
    finally:
        await connection.close()


async def test_piccolo_tables_mirror_the_migrated_columns(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("dojo"))
    try:
        for table in DOJO_TABLES:
            rows = await connection.fetch(
                "SELECT column_name, is_nullable FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = $1",
                table._meta.tablename,
            )
            in_database = {row["column_name"]: row["is_nullable"] == "YES" for row in rows}
            in_piccolo = {
                column._meta.db_column_name: column._meta.null for column in table._meta.non_default_columns
            }
            assert in_piccolo == in_database, table._meta.tablename
    finally:
        await connection.close()


async def test_every_table_has_a_tenant_and_forces_row_level_security(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("dojo"))
    try:
        rows = await connection.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner,"
            " EXISTS (SELECT 1 FROM information_schema.columns i WHERE i.table_name = c.relname"
            "   AND i.column_name = 'tenant_id' AND i.is_nullable = 'NO') AS has_tenant,"
            " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'migration'"
        )
        tables = {row["relname"]: row for row in rows}
        assert set(tables) == TABLES
        for name, row in tables.items():
            assert row["relrowsecurity"], name
            assert row["relforcerowsecurity"], name
            assert row["has_tenant"], name
            assert row["policies"] == 1, name
            assert row["owner"] == "dojo_owner", name
        app_role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'dojo_app'"
        )
        assert app_role is not None
        assert not app_role["rolsuper"]
        assert not app_role["rolbypassrls"]
    finally:
        await connection.close()


async def test_join_codes_are_unique_and_the_status_times_agree(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("dojo"))
    try:
        indexes = {
            row["indexname"]: row["indexdef"]
            for row in await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        }
        checks = {
            row["conname"]
            for row in await connection.fetch("SELECT conname FROM pg_constraint WHERE contype = 'c'")
        }
    finally:
        await connection.close()
    assert "UNIQUE" in indexes["idx_dojos_join_code"]
    assert "(tenant_id, status, scheduled_start_time)" in indexes["idx_dojos_tenant_status_start"]
    assert {
        "dojos_status_times_check",
        "dojos_initial_code_check",
        "dojos_max_participants_check",
        "dojo_code_snapshots_code_check",
        "dojo_chat_messages_message_check",
    } <= checks
