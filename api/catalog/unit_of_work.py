"""The request's transaction, and what must only happen once it has committed.

Indexing a POC that was rolled back would show a document that never existed, and removing
a replaced thumbnail before the new key is committed would leave a POC pointing at nothing.
So services only *ask* for those effects; `unit_of_work` runs them after the commit, and a
failed transaction runs none of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog

from api.catalog.indexing import IndexingGateway
from api.common.tenancy import tenant_transaction
from workflows.poc_indexing_types import PocIndexRequest

logger = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class UnitOfWork:
    connection: Any
    """The transaction's asyncpg connection, with ``app.tenant_id`` set."""
    tenant_id: UUID
    index_requests: list[PocIndexRequest] = field(default_factory=list)
    after_commit_steps: list[AfterCommit] = field(default_factory=list)

    def index_after_commit(self, poc_id: UUID, version: int) -> None:
        self.index_requests.append(
            PocIndexRequest(tenant_id=str(self.tenant_id), poc_id=str(poc_id), version=version)
        )

    def after_commit(self, step: AfterCommit) -> None:
        """Run `step` once committed; a failure is logged, never turned into a failed request."""
        self.after_commit_steps.append(step)


@asynccontextmanager
async def unit_of_work(engine: Any, tenant_id: UUID, indexing: IndexingGateway) -> AsyncIterator[UnitOfWork]:
    async with tenant_transaction(engine, tenant_id) as transaction:
        work = UnitOfWork(connection=transaction.connection, tenant_id=tenant_id)
        yield work
    # Reached only when the block neither raised nor rolled back: the changes are durable.
    await indexing.request_indexing(work.index_requests)
    for step in work.after_commit_steps:
        try:
            await step()
        except Exception as exc:
            logger.warning(
                "after-commit step failed", step=getattr(step, "__name__", repr(step)), error=repr(exc)
            )
