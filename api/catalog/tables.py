"""Piccolo tables of the catalog database; the schema itself is in piccolo_migrations/.

They describe the tables for Piccolo's tooling and are checked against the migrated schema
by the tests. Queries live in `api.catalog.repository` and run on the unit of work's own
connection, so row-level security's tenant setting always applies to them.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Poc(Table, tablename="pocs"):
    poc_id = UUID(primary_key=True)
    user_id = UUID()
    tenant_id = UUID()
    name = Varchar(length=100)
    description = Text(null=True, default=None)
    repository_url = Varchar(length=255)
    language = Varchar(length=50, null=True, default=None)
    is_public = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)
    thumbnail_key = Varchar(length=255, null=True, default=None)
    version = BigInt(default=1)


class PocTag(Table, tablename="poc_tags"):
    """One tag of one POC: ``tag`` is the matching key, ``display`` what the author typed.

    The primary key is (poc_id, tag); Piccolo has no composite keys and imagines an ``id``.
    """

    tenant_id = UUID()
    poc_id = UUID()
    tag = Varchar(length=50)
    display = Varchar(length=50)
    created_at = Timestamptz(default=TimestamptzNow())


class PocFramework(Table, tablename="poc_frameworks"):
    """Like `PocTag`: primary key (poc_id, framework)."""

    tenant_id = UUID()
    poc_id = UUID()
    framework = Varchar(length=50)
    display = Varchar(length=50)
    created_at = Timestamptz(default=TimestamptzNow())


CATALOG_TABLES: tuple[type[Table], ...] = (Poc, PocTag, PocFramework)
