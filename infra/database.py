"""Create each service's database and roles, then run its Piccolo migrations.

Per service: a NOLOGIN owner role that owns every table (migrations run as it) and a
LOGIN application role that owns nothing and has no BYPASSRLS. Default privileges give the
application role DML on what the owner creates, so row-level security always applies to it.
The database and both roles are named after `Settings.database_name` (``realtime`` owns
``dojo``, with ``dojo_owner`` and ``dojo_app``); the migrations come from the service's
Piccolo configuration, `piccolo_conf_module`.
"""

from __future__ import annotations

import importlib
import os

import asyncpg

from api.common.settings import Settings

EXTENSIONS: tuple[str, ...] = ("pg_trgm", "unaccent", "citext")

PICCOLO_CONF_MODULES: dict[str, str] = {"realtime": "realtime.dojos.piccolo_conf"}
"""Services whose Piccolo configuration is not ``api.<service>.piccolo_conf``."""


def piccolo_conf_module(service: str) -> str:
    return PICCOLO_CONF_MODULES.get(service, f"api.{service}.piccolo_conf")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def provision_database(settings: Settings, service: str) -> None:
    database = settings.database_name(service)
    owner = settings.owner_role(service)
    app = settings.app_role(service)
    admin = await asyncpg.connect(settings.superuser_dsn())
    try:
        for role, options in (
            (owner, "NOLOGIN"),
            (app, "LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        ):
            exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await admin.execute(f"{verb} ROLE {_quote_ident(role)} {options}")
        password = settings.app_db_password.get_secret_value()
        await admin.execute(f"ALTER ROLE {_quote_ident(app)} PASSWORD {_quote_literal(password)}")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f"CREATE DATABASE {_quote_ident(database)} OWNER {_quote_ident(owner)}")
    finally:
        await admin.close()

    db = await asyncpg.connect(settings.superuser_dsn(database))
    try:
        for extension in EXTENSIONS:
            await db.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
        await db.execute(f"REVOKE ALL ON DATABASE {_quote_ident(database)} FROM PUBLIC")
        await db.execute(
            f"GRANT CONNECT, TEMPORARY ON DATABASE {_quote_ident(database)} TO {_quote_ident(app)}"
        )
        await db.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {_quote_ident(owner)}")
        await db.execute(f"GRANT USAGE ON SCHEMA public TO {_quote_ident(app)}")
        await db.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {_quote_ident(owner)} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {_quote_ident(app)}"
        )
        await db.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {_quote_ident(owner)} IN SCHEMA public "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {_quote_ident(app)}"
        )
    finally:
        await db.close()


async def run_migrations(settings: Settings, service: str) -> None:
    """Apply the service's Piccolo migrations as its owner role.

    Piccolo's table of applied migrations binds itself to the first engine it meets; several
    services migrated in one process would all record into the first one's database (and then
    re-run their migrations on the next start), so it is re-bound to each service's engine.
    """
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    module = piccolo_conf_module(service)
    os.environ["PICCOLO_CONF"] = module
    conf = importlib.import_module(module)
    Migration._meta.db = conf.configure(settings)
    response = await run_forwards(app_name=service, migration_id="all", fake=False)
    if not response.success:
        raise RuntimeError(f"migrations of {service} failed: {response.message}")


async def migrate(settings: Settings, service: str) -> None:
    await provision_database(settings, service)
    await run_migrations(settings, service)
