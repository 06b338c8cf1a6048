"""The transaction of one step of a request, in the caller's tenant.

Content talks to Temporal only after a transaction has committed (a workflow must never
run for a request that was rolled back), and what Temporal answers decides the next
transaction (a request whose workflow could not start is marked FAILED). So the service
opens units of work itself, one per step, instead of hiding the Temporal call in an
after-commit hook whose failure nobody would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from api.common.tenancy import tenant_transaction


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    connection: Any
    """The transaction's asyncpg connection, with ``app.tenant_id`` set."""
    tenant_id: UUID


@asynccontextmanager
async def unit_of_work(engine: Any, tenant_id: UUID) -> AsyncIterator[UnitOfWork]:
    """Commits when the block ends normally, rolls back when it raises."""
    async with tenant_transaction(engine, tenant_id) as transaction:
        yield UnitOfWork(connection=transaction.connection, tenant_id=tenant_id)
