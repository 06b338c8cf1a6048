"""The identity data written by the TenantOnboarding saga, and its undo.

Every function is idempotent, because Temporal retries activities and replays compensations:
the ids are chosen by the workflow, a repeated create finds its own row and succeeds, a
repeated delete finds nothing and succeeds. Errors that mean "bad input, nothing written"
subclass `OnboardingInputError`, so the activity can fail at once without retrying.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from api.common.tenancy import platform_transaction, tenant_transaction
from api.identity.tables import Tenant, User

TableT = TypeVar("TableT", bound=Table)

_tables_by_engine: dict[int, tuple[PostgresEngine, dict[type[Table], type[Table]]]] = {}
"""Keyed by id(); the engine is held too, so its id cannot be reused (engines allow no weakref)."""


class OnboardingInputError(ValueError):
    """Nothing was written and retrying cannot help."""

    error_type = "InvalidInput"


class SlugTakenError(OnboardingInputError):
    error_type = "SlugTaken"


class DomainTakenError(OnboardingInputError):
    error_type = "DomainTaken"


class EmailTakenError(OnboardingInputError):
    error_type = "EmailTaken"


class TenantNotFoundError(LookupError):
    """The tenant a later step needs is gone: the saga cannot go on."""


def bound_table(engine: PostgresEngine, table: type[TableT]) -> type[TableT]:
    """`table`, with its queries run on `engine` (and so inside that engine's transaction).

    Piccolo binds a table class to the first engine it finds, process-wide; a worker that
    shares its process with an API (tests, a demo) may hold another engine to the same
    database. Queries of a class bound elsewhere would run outside our transaction, without
    its tenant setting, so each engine gets its own subclass of the table.
    """
    _engine, tables = _tables_by_engine.setdefault(id(engine), (engine, {}))
    if table not in tables:
        subclass = cast(
            "type[Table]",
            type(table.__name__, (table,), {}, tablename=table._meta.tablename),
        )
        subclass._meta.db = engine
        tables[table] = subclass
    return cast("type[TableT]", tables[table])


def _constraint(exc: asyncpg.PostgresError) -> str:
    return str(getattr(exc, "constraint_name", "") or "")


async def create_pending_tenant(
    engine: PostgresEngine,
    *,
    tenant_id: str,
    name: str,
    slug: str,
    domain: str,
    plan: str,
    default_locale: str,
) -> bool:
    """Insert the tenant as PENDING; False when this very tenant already exists (a retry)."""
    tenants = bound_table(engine, Tenant)
    try:
        async with platform_transaction(engine):
            clashes: list[dict[str, Any]] = await tenants.select(
                tenants.tenant_id, tenants.slug, tenants.domain
            ).where(
                (tenants.tenant_id == UUID(tenant_id)) | (tenants.slug == slug) | (tenants.domain == domain)
            )
            for row in clashes:
                if str(row["tenant_id"]) == tenant_id:
                    return False
            for row in clashes:
                if row["slug"] == slug:
                    raise SlugTakenError(f"the slug {slug!r} is already taken")
            if clashes:
                raise DomainTakenError(f"the domain {domain!r} is already taken")
            await tenants.insert(
                tenants(
                    tenant_id=UUID(tenant_id),
                    name=name,
                    slug=slug,
                    domain=domain,
                    subscription_plan=plan,
                    status="PENDING",
                    default_locale=default_locale,
                )
            )
    except asyncpg.UniqueViolationError as exc:
        if _constraint(exc) == "tenants_slug_key":
            raise SlugTakenError(f"the slug {slug!r} is already taken") from exc
        if _constraint(exc) == "tenants_domain_key":
            raise DomainTakenError(f"the domain {domain!r} is already taken") from exc
        raise
    except (asyncpg.CheckViolationError, asyncpg.DataError) as exc:
        raise OnboardingInputError(f"the tenant cannot be stored: {exc}") from exc
    return True


async def delete_tenant(engine: PostgresEngine, tenant_id: str) -> bool:
    """Remove the tenant and, by cascade, its users; the slug and domain are free again."""
    tenants = bound_table(engine, Tenant)
    async with platform_transaction(engine):
        deleted: list[dict[str, Any]] = (
            await tenants.delete().where(tenants.tenant_id == UUID(tenant_id)).returning(tenants.tenant_id)
        )
    return bool(deleted)


async def create_owner(
    engine: PostgresEngine,
    *,
    tenant_id: str,
    user_id: str,
    email: str,
    password_hash: str,
    full_name: str,
    locale: str,
) -> bool:
    """Insert the tenant's OWNER; False when this very user already exists (a retry)."""
    users = bound_table(engine, User)
    try:
        async with tenant_transaction(engine, tenant_id):
            clashes: list[dict[str, Any]] = await users.select(users.user_id).where(
                (users.user_id == UUID(user_id)) | (users.email == email)
            )
            if any(str(row["user_id"]) == user_id for row in clashes):
                return False
            if clashes:
                raise EmailTakenError(f"{email!r} already belongs to a user of this tenant")
            await users.insert(
                users(
                    user_id=UUID(user_id),
                    tenant_id=UUID(tenant_id),
                    email=email,
                    password_hash=password_hash,
                    full_name=full_name,
                    role="OWNER",
                    locale=locale,
                    status="ACTIVE",
                )
            )
    except asyncpg.ForeignKeyViolationError as exc:
        raise TenantNotFoundError(f"tenant {tenant_id} does not exist") from exc
    except asyncpg.UniqueViolationError as exc:
        if _constraint(exc) == "users_tenant_id_email_key":
            raise EmailTakenError(f"{email!r} already belongs to a user of this tenant") from exc
        raise
    except (asyncpg.CheckViolationError, asyncpg.DataError) as exc:
        raise OnboardingInputError(f"the owner cannot be stored: {exc}") from exc
    return True


async def delete_user(engine: PostgresEngine, tenant_id: str, user_id: str) -> bool:
    users = bound_table(engine, User)
    async with tenant_transaction(engine, tenant_id):
        deleted: list[dict[str, Any]] = (
            await users.delete().where(users.user_id == UUID(user_id)).returning(users.user_id)
        )
    return bool(deleted)


async def activate_tenant(engine: PostgresEngine, tenant_id: str) -> None:
    tenants = bound_table(engine, Tenant)
    async with platform_transaction(engine):
        updated: list[dict[str, Any]] = (
            await tenants.update({tenants.status: "ACTIVE", tenants.updated_at: datetime.now(UTC)})
            .where(tenants.tenant_id == UUID(tenant_id))
            .returning(tenants.tenant_id)
        )
    if not updated:
        raise TenantNotFoundError(f"tenant {tenant_id} does not exist")
