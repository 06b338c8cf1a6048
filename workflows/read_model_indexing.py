"""What every read-model indexing workflow shares (PocIndexing, DojoIndexing and their reconciliations).

An indexing workflow keeps one search document at its source's version: it runs per entity under a
deterministic id, the owning service signal-with-starts it after every committed write, and it
loops until the read model holds the highest version asked for (`index_until_current`). A
reconciliation walks the source's versions page by page, compares each page's key range with the
read model and asks for reindexing of what drifted (`reconcile_pages`).

Only the activity names and argument types differ between POCs and dojos, so each workflow passes
its activity calls in as steps; the sequence of commands, and so every recorded history, is the
same as when each workflow spelled the loop out itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.poc_indexing_types import ReconciliationReport, UpsertOutcome

ACTIVITY_TIMEOUT = timedelta(seconds=30)
INDEXING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=["InvalidDocument"],
)
"""About 8 minutes of attempts; after that the workflow fails and reconciliation repairs later."""
STALE_READ_LIMIT = 5
"""The source answered with an older version than requested (a lagging read): wait, then load again."""
RECONCILIATION_TIMEOUT = timedelta(minutes=2)

Key = tuple[str, str]
"""(tenant_id, entity id), both compared as text (UUIDs in canonical form)."""

DocumentT = TypeVar("DocumentT")
VersionedDocumentT = TypeVar("VersionedDocumentT", bound="VersionedDocument")
VersionT = TypeVar("VersionT", bound="VersionedEntity")
RequestT = TypeVar("RequestT")


class IndexingProgress(Protocol):
    """The part of an indexing workflow's state the loop advances."""

    requested_version: int
    indexed_version: int
    passes: int


class VersionedEntity(Protocol):
    """One entity's version as the source or the read model reports it."""

    @property
    def version(self) -> int: ...

    @property
    def deleted(self) -> bool: ...


class VersionedDocument(Protocol):
    """A source document: the loop only reads its version."""

    @property
    def version(self) -> int: ...


def key_of(tenant_id: str | None, entity_id: str | None) -> Key | None:
    """A keyset position from an input's two optional fields: None unless both are set."""
    return (tenant_id, entity_id) if tenant_id is not None and entity_id is not None else None


@dataclass(frozen=True)
class IndexingSteps(Generic[DocumentT]):
    """One entity's activity calls, already bound to its tenant and id."""

    load: Callable[[int], Awaitable[DocumentT | None]]
    """The document at (at least) this version; None when the source no longer has the entity."""
    upsert: Callable[[DocumentT], Awaitable[object]]
    delete: Callable[[int], Awaitable[object]]
    """Leave a tombstone at this version."""
    version_of: Callable[[DocumentT], int]
    continue_as_new: Callable[[int], NoReturn]
    """Restart the run with this requested version (a long-lived entity's history stays short)."""
    source: str
    """Who serves the documents ("catalog", "realtime"), for the error of a source that lags."""
    behind_error: str
    """The non-retryable error type raised when the source keeps serving an older version."""
    entity: str
    """The entity's id, for that error's message."""


async def index_until_current(state: IndexingProgress, steps: IndexingSteps[DocumentT]) -> None:
    """Load and upsert (or delete) until the read model holds ``state.requested_version``.

    Signals received meanwhile raise the requested version, so several quick writes cost one or
    two loads. The read model ignores versions older than it holds, so a retry or a late run is
    harmless.
    """
    stale_reads = 0
    while state.indexed_version < state.requested_version:
        target = state.requested_version
        state.passes += 1
        document = await steps.load(target)
        if document is None:
            await steps.delete(target)
            state.indexed_version = max(state.indexed_version, target)
        elif steps.version_of(document) < target:
            stale_reads += 1
            if stale_reads > STALE_READ_LIMIT:
                raise ApplicationError(
                    f"{steps.source} still serves version {steps.version_of(document)} of {steps.entity},"
                    f" version {target} was requested",
                    type=steps.behind_error,
                    non_retryable=True,
                )
            await workflow.sleep(timedelta(seconds=2**stale_reads))
            continue
        else:
            await steps.upsert(document)
            # Not applied means the read model already holds this version or a newer one.
            state.indexed_version = max(state.indexed_version, steps.version_of(document))
        stale_reads = 0
        if state.indexed_version < state.requested_version and workflow.info().is_continue_as_new_suggested():
            steps.continue_as_new(state.requested_version)


def compare_versions(
    source: Sequence[VersionT],
    indexed: Sequence[VersionT],
    report: ReconciliationReport,
    *,
    key: Callable[[VersionT], Key],
    request: Callable[[VersionT, int], RequestT],
) -> list[RequestT]:
    """What to reindex so the read model matches the source over one key range.

    `request` builds the indexing request of an entity at a version.
    """
    in_index = {key(item): item for item in indexed}
    in_source = {key(item) for item in source}
    requests: list[RequestT] = []
    for item in source:
        report.checked += 1
        current = in_index.get(key(item))
        if current is None:
            if not item.deleted:
                report.missing += 1
                requests.append(request(item, item.version))
        elif current.version < item.version:
            report.stale += 1
            requests.append(request(item, item.version))
        elif current.version > item.version:
            report.ahead += 1
    for item in indexed:
        if key(item) not in in_source and not item.deleted:
            report.orphaned += 1
            # The source has no such entity: indexing finds nothing to load and leaves a tombstone.
            requests.append(request(item, item.version + 1))
    report.requested += len(requests)
    return requests


@dataclass(frozen=True)
class ReconciliationSteps(Generic[VersionT, RequestT]):
    """One read model's reconciliation activities, already bound to the run's input."""

    source_page: Callable[[Key | None], Awaitable[tuple[list[VersionT], bool]]]
    """The source's versions after this key, in key order, and whether more follow."""
    indexed_range: Callable[[Key | None, Key | None], Awaitable[list[VersionT]]]
    """The read model's versions with after < key <= through (None: no bound)."""
    request_reindex: Callable[[list[RequestT]], Awaitable[object]]
    key: Callable[[VersionT], Key]
    request: Callable[[VersionT, int], RequestT]
    continue_as_new: Callable[[Key, ReconciliationReport], NoReturn]
    """Restart after this key, carrying what was found so far."""


async def reconcile_pages(
    report: ReconciliationReport, after: Key | None, steps: ReconciliationSteps[VersionT, RequestT]
) -> ReconciliationReport:
    """Compare the source with the read model page by page and ask for reindexing of the drift."""
    while True:
        items, has_more = await steps.source_page(after)
        last = items[-1] if items and has_more else None
        through = steps.key(last) if last is not None else None
        indexed = await steps.indexed_range(after, through)
        report.pages += 1
        requests = compare_versions(items, indexed, report, key=steps.key, request=steps.request)
        if requests:
            await steps.request_reindex(requests)
        if through is None:
            return report
        after = through
        if workflow.info().is_continue_as_new_suggested():
            steps.continue_as_new(after, report)


def activity_indexing_steps(
    *,
    load_activity: str,
    upsert_activity: str,
    delete_activity: str,
    document_type: type[VersionedDocumentT],
    request: Callable[[int], object],
    continue_as_new: Callable[[int], NoReturn],
    source: str,
    behind_error: str,
    entity: str,
) -> IndexingSteps[VersionedDocumentT]:
    """An entity's `IndexingSteps` as activity calls: `request` builds the load and delete
    activities' argument for a version; every call has the same timeout and retry policy."""

    async def load(version: int) -> VersionedDocumentT | None:
        document: VersionedDocumentT | None = await workflow.execute_activity(
            load_activity,
            request(version),
            result_type=document_type,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return document

    async def upsert(document: VersionedDocumentT) -> UpsertOutcome:
        outcome: UpsertOutcome = await workflow.execute_activity(
            upsert_activity,
            document,
            result_type=UpsertOutcome,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return outcome

    async def delete(version: int) -> UpsertOutcome:
        outcome: UpsertOutcome = await workflow.execute_activity(
            delete_activity,
            request(version),
            result_type=UpsertOutcome,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return outcome

    return IndexingSteps(
        load=load,
        upsert=upsert,
        delete=delete,
        version_of=lambda document: document.version,
        continue_as_new=continue_as_new,
        source=source,
        behind_error=behind_error,
        entity=entity,
    )


def activity_reconciliation_steps(
    *,
    page_activity: str,
    page_request: Callable[[Key | None], object],
    page_type: type[Any],
    range_activity: str,
    range_request: Callable[[Key | None, Key | None], object],
    range_type: type[list[VersionT]],
    reindex_activity: str,
    reindex_batch: Callable[[list[RequestT]], object],
    key: Callable[[VersionT], Key],
    request: Callable[[VersionT, int], RequestT],
    continue_as_new: Callable[[Key, ReconciliationReport], NoReturn],
) -> ReconciliationSteps[VersionT, RequestT]:
    """A read model's `ReconciliationSteps` as activity calls.

    `page_request` and `range_request` build the source page's and the read model range's
    activity arguments from keys, `reindex_batch` the reindex request's; `page_type` answers
    ``items`` and ``has_more``.
    """

    async def source_page(after: Key | None) -> tuple[list[VersionT], bool]:
        page = await workflow.execute_activity(
            page_activity,
            page_request(after),
            result_type=page_type,
            start_to_close_timeout=RECONCILIATION_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return page.items, page.has_more

    async def indexed_range(after: Key | None, through: Key | None) -> list[VersionT]:
        indexed: list[VersionT] = await workflow.execute_activity(
            range_activity,
            range_request(after, through),
            result_type=range_type,
            start_to_close_timeout=RECONCILIATION_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return indexed

    async def request_reindex(requests: list[RequestT]) -> int:
        requested: int = await workflow.execute_activity(
            reindex_activity,
            reindex_batch(requests),
            result_type=int,
            start_to_close_timeout=RECONCILIATION_TIMEOUT,
            retry_policy=INDEXING_RETRY,
        )
        return requested

    return ReconciliationSteps(
        source_page=source_page,
        indexed_range=indexed_range,
        request_reindex=request_reindex,
        key=key,
        request=request,
        continue_as_new=continue_as_new,
    )
