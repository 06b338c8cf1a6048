"""Tells the search service of every committed dojo change, through the DojoIndexing workflow.

A failure to start the workflow (Temporal down) never undoes the change: it is logged, and the
dojo reconciliation schedule repairs the read model later, as the catalog does for POCs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import structlog
from temporalio.client import Client

from workflows.dojo_indexing_types import TASK_QUEUE, DojoIndexRequest, start_dojo_indexing

START_TIMEOUT = timedelta(seconds=5)

log = structlog.get_logger(__name__)


class DojoIndexingGateway:
    """A `DojoChangeListener` that signal-with-starts DojoIndexing after each commit."""

    def __init__(self, temporal: Callable[[], Awaitable[Client]], *, task_queue: str = TASK_QUEUE) -> None:
        self._temporal = temporal
        self._task_queue = task_queue

    async def dojo_changed(self, tenant_id: UUID, dojo_id: UUID, version: int) -> None:
        request = DojoIndexRequest(tenant_id=str(tenant_id), dojo_id=str(dojo_id), version=version)
        try:
            client = await self._temporal()
            await start_dojo_indexing(client, request, task_queue=self._task_queue, rpc_timeout=START_TIMEOUT)
        except Exception as error:  # the reconciliation repairs what this misses
            log.warning("dojo indexing not started", dojo_id=str(dojo_id), version=version, error=str(error))
