"""The request's transaction, and what must only happen once it has committed.

Closing a dojo's sockets for an end that was rolled back would throw people out of a session
that goes on, and telling the search a version that never committed would index a dojo that
does not exist. So the service only *asks* for those effects; `unit_of_work` runs them after
the commit, and a failed transaction runs none of them. A failing effect is logged, never
turned into a failed request: the change itself is durable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog

from api.common.tenancy import tenant_transaction

logger = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class UnitOfWork:
    connection: Any
    """The transaction's asyncpg connection, with ``app.tenant_id`` set."""
    tenant_id: UUID
    after_commit_steps: list[AfterCommit] = field(default_factory=list)

    def after_commit(self, step: AfterCommit) -> None:
        self.after_commit_steps.append(step)


@asynccontextmanager
async def unit_of_work(engine: Any, tenant_id: UUID) -> AsyncIterator[UnitOfWork]:
    async with tenant_transaction(engine, tenant_id) as transaction:
        work = UnitOfWork(connection=transaction.connection, tenant_id=tenant_id)
        yield work
    # Reached only when the block neither raised nor rolled back: the changes are durable.
    for step in work.after_commit_steps:
        try:
            await step()
        except Exception as exc:
            logger.warning(
                "after-commit step failed", step=getattr(step, "__qualname__", repr(step)), error=repr(exc)
            )
