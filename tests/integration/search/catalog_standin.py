"""Stand-ins for catalog's indexing activities (NOT catalog's code), for the workflow tests.

Catalog's real ``load_poc_document`` and versions page are being written by the catalog team;
these are registered under the same activity names, serve POCs from a dict the test controls,
record every call, and fail or hold where a test asks. Search's own activities are the real
ones, on the real PostgreSQL engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from workflows.poc_indexing_types import (
    CATALOG_VERSIONS_PAGE_ACTIVITY,
    LOAD_POC_DOCUMENT_ACTIVITY,
    PocDocument,
    PocIndexRequest,
    PocVersion,
    VersionsPage,
    VersionsPageRequest,
)


@dataclass
class StandInCatalogActivities:
    documents: dict[tuple[str, str], PocDocument] = field(default_factory=dict)
    """The catalog's POCs by (tenant, poc); soft-deleted ones have ``deleted=True``."""
    load_requests: list[int] = field(default_factory=list)
    """The version each load was asked for, in order."""
    failing_attempts: int = 0
    """Every load fails with a retryable error on its first attempts, this many."""
    hold_first_load: bool = False
    first_load_started: asyncio.Event = field(default_factory=asyncio.Event)
    release_first_load: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: list[int] = field(default_factory=list)

    def put(self, document: PocDocument) -> None:
        self.documents[(document.tenant_id, document.poc_id)] = document

    def bump(self, document: PocDocument, **changes: Any) -> PocDocument:
        """A catalog write: the next version of `document`."""
        current = self.documents[(document.tenant_id, document.poc_id)]
        updated = dataclasses.replace(current, version=current.version + 1, **changes)
        self.put(updated)
        return updated

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.load_poc_document, self.catalog_poc_versions_page]

    @activity.defn(name=LOAD_POC_DOCUMENT_ACTIVITY)
    async def load_poc_document(self, request: PocIndexRequest) -> PocDocument | None:
        attempt = activity.info().attempt
        self.attempts.append(attempt)
        if attempt <= self.failing_attempts:
            raise RuntimeError(f"catalog unavailable (stand-in, attempt {attempt})")
        self.load_requests.append(request.version)
        # What catalog holds when the load starts, like a read at the start of a transaction.
        snapshot = self.documents.get((request.tenant_id, request.poc_id))
        if self.hold_first_load and len(self.load_requests) == 1:
            self.first_load_started.set()
            await self.release_first_load.wait()
        return snapshot

    @activity.defn(name=CATALOG_VERSIONS_PAGE_ACTIVITY)
    async def catalog_poc_versions_page(self, request: VersionsPageRequest) -> VersionsPage:
        keys = sorted(key for key in self.documents if not request.tenant_ids or key[0] in request.tenant_ids)
        if request.after_tenant_id is not None and request.after_poc_id is not None:
            keys = [key for key in keys if key > (request.after_tenant_id, request.after_poc_id)]
        page = keys[: request.limit]
        return VersionsPage(
            items=[
                PocVersion(
                    tenant_id=tenant,
                    poc_id=poc,
                    version=self.documents[(tenant, poc)].version,
                    deleted=self.documents[(tenant, poc)].deleted,
                )
                for tenant, poc in page
            ],
            has_more=len(keys) > request.limit,
        )
