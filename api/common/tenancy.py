"""The tenant context of a unit of work, enforced by PostgreSQL row-level security.

The tenant is set with ``set_config(..., true)``: local to the transaction, so a pooled
connection never carries one request's tenant into the next. Outside these helpers the
application role sees no rows at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

current_tenant_id: ContextVar[UUID | None] = ContextVar("current_tenant_id", default=None)
"""The tenant of the request or activity being served, for logs and traces."""


@asynccontextmanager
async def tenant_transaction(engine: Any, tenant_id: UUID | str) -> AsyncIterator[Any]:
    """A Piccolo transaction in which only `tenant_id`'s rows exist."""
    async with engine.transaction() as transaction:
        await transaction.connection.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
        token = current_tenant_id.set(UUID(str(tenant_id)))
        try:
            yield transaction
        finally:
            current_tenant_id.reset(token)


@asynccontextmanager
async def platform_transaction(engine: Any) -> AsyncIterator[Any]:
    """A transaction across tenants, for platform work only (SUPERADMIN, sign-up, login lookup)."""
    async with engine.transaction() as transaction:
        await transaction.connection.execute("SELECT set_config('app.platform', 'on', true)")
        yield transaction
