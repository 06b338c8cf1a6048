"""The migrated content schema: Piccolo's table classes describe it, and RLS is forced everywhere."""

from __future__ import annotations

import asyncpg
import pytest

from api.common.settings import Settings
from api.content.tables import CONTENT_TABLES

pytestmark = pytest.mark.integration


async def test_piccolo_tables_mirror_the_migrated_columns(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("content"))
    try:
        for table in CONTENT_TABLES:
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


async def test_every_table_forces_row_level_security_on_a_role_that_owns_nothing(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("content"))
    try:
        rows = await connection.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'migration'"
        )
        tables = {row["relname"]: row for row in rows}
        assert set(tables) == {"content_requests", "content_request_pocs"}
        for name, row in tables.items():
            assert row["relrowsecurity"], name
            assert row["relforcerowsecurity"], name
            assert row["owner"] == settings.owner_role("content"), name
        app_role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", settings.app_role("content")
        )
        assert app_role is not None
        assert not app_role["rolsuper"]
        assert not app_role["rolbypassrls"]
    finally:
        await connection.close()


async def test_the_indexes_the_queries_rely_on_exist(settings: Settings) -> None:
    connection = await asyncpg.connect(settings.superuser_dsn("content"))
    try:
        indexes = {
            row["indexname"]: row["indexdef"]
            for row in await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        }
    finally:
        await connection.close()
    assert "UNIQUE" in indexes["idx_content_requests_idempotency"]
    assert "WHERE (idempotency_key IS NOT NULL)" in indexes["idx_content_requests_idempotency"]
    assert "(tenant_id, type, created_at)" in indexes["idx_content_requests_quota"]
    assert "(tenant_id, user_id, created_at DESC)" in indexes["idx_content_requests_user"]
