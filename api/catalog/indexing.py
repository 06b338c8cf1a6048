"""Hands every committed change of a POC to the PocIndexing workflow.

One workflow per POC (``poc-index/{tenant}/{poc}``), started with signal-with-start: when it
is already running it only receives the new version as a signal, otherwise it starts with
it. A write is never undone because Temporal is unreachable: the request is logged and the
periodic reconciliation finds the POC whose indexed version is behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from api.common.settings import Settings
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from workflows.poc_indexing_types import (
    INDEXING_REQUEST_TYPE,
    REINDEX_SIGNAL,
    TASK_QUEUE,
    WORKFLOW_NAME,
    PocIndexRequest,
    poc_index_workflow_id,
)

CONNECT_TIMEOUT_SECONDS = 3.0
START_TIMEOUT_SECONDS = 5.0

logger = structlog.get_logger(__name__)


def latest_requests(requests: Iterable[PocIndexRequest]) -> list[PocIndexRequest]:
    """One request per POC, with the highest version asked for."""
    latest: dict[tuple[str, str], PocIndexRequest] = {}
    for request in requests:
        key = (request.tenant_id, request.poc_id)
        if key not in latest or latest[key].version < request.version:
            latest[key] = request
    return list(latest.values())


class IndexingGateway:
    """Connects to Temporal on first use, so the catalog serves and writes while it is down."""

    def __init__(
        self,
        settings: Settings,
        client: Client | None = None,
        *,
        task_queue: str = TASK_QUEUE,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self._settings = settings
        self._client = client
        self.task_queue = task_queue
        self._connect_timeout = connect_timeout
        self._start_timeout = start_timeout
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.wait_for(
                        connect_client(self._settings), timeout=self._connect_timeout
                    )
        return self._client

    async def start(self, request: PocIndexRequest) -> None:
        """Signal-with-start PocIndexing for `request`; raises when Temporal cannot be reached."""
        client = await self.client()
        await client.start_workflow(
            WORKFLOW_NAME,
            request,
            id=poc_index_workflow_id(request.tenant_id, request.poc_id),
            task_queue=self.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=REINDEX_SIGNAL,
            start_signal_args=[request],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_ID, request.tenant_id),
                    SearchAttributePair(REQUEST_TYPE, INDEXING_REQUEST_TYPE),
                ]
            ),
            rpc_timeout=timedelta(seconds=self._start_timeout),
        )

    async def request_indexing(self, requests: Iterable[PocIndexRequest]) -> int:
        """Start indexing for each committed change; never raises. Returns how many were handed over."""
        pending = latest_requests(requests)
        if not pending:
            return 0
        try:
            await self.client()
        except Exception as exc:
            for request in pending:
                _log_not_started(request, exc)
            return 0
        started = 0
        for request in pending:
            try:
                await asyncio.wait_for(self.start(request), timeout=self._start_timeout)
            except Exception as exc:
                _log_not_started(request, exc)
                continue
            started += 1
        return started


def _log_not_started(request: PocIndexRequest, exc: BaseException) -> None:
    logger.warning(
        "poc indexing not started; the reconciliation will repair it",
        tenant_id=request.tenant_id,
        poc_id=request.poc_id,
        version=request.version,
        error=repr(exc),
    )
