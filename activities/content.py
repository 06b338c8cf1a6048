"""Side effects of the ReportGeneration workflow on content's data: the request's life, its files.

The clients (Piccolo engine as content's application role, blob storage) are injected once per
worker. Every write happens in the request's tenant transaction, so row-level security applies
as it does to the API, and every activity is safe to retry: the repository's state machine
ignores a repeated transition, progress never goes back, files are overwritten whole and
deletes of what is gone are no-ops.

Between steps the POCs and their summary travel through storage under the run's work prefix
(claim checks); only keys and counts go back to the workflow.

Rendering is CPU-bound and synchronous: it runs in a thread while the activity heartbeats
with its progress, records that progress in the request every few percent, and, once Temporal
says the run was cancelled, makes the renderer stop at its next progress call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from api.common.i18n import N_, format_number, normalize_locale, register_catalog_dir, translate
from api.common.settings import Settings
from api.common.storage import BlobNotFoundError, BlobStorage, local_blob_storage
from api.common.tenancy import tenant_transaction
from api.content import repository
from api.content.piccolo_conf import build_engine
from api.content.reports.aggregate import (
    ReportSummary,
    decode_pocs,
    decode_summary,
    encode_summary,
    summarise,
)
from api.content.reports.model import InvalidReportOptionsError, ReportOptions, parse_instant
from api.content.reports.render import RenderedReport, render_report
from workflows.report_generation_types import (
    AGGREGATE_REPORT_ACTIVITY,
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    COMPLETE_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    FAIL_REPORT_ACTIVITY,
    INVALID_REQUEST_ERROR,
    OWNER_NOT_FOUND_ERROR,
    PUBLISH_REPORT_ACTIVITY,
    REJECTION_ERROR_CODES,
    RENDER_REPORT_ACTIVITY,
    REQUEST_STEPS,
    STEP_AGGREGATE,
    STEP_CLAIM,
    STEP_COMPLETE,
    STEP_PROFILE,
    STEP_PUBLISH,
    STEP_RENDER,
    STEP_SELECT,
    STEP_STARTS_AT,
    TOO_MANY_POCS_ERROR,
    UNSUPPORTED_FORMAT_ERROR,
    AggregateRequest,
    ClaimRequest,
    CompleteRequest,
    DiscardRequest,
    FailRequest,
    PublishedReport,
    PublishRequest,
    RenderedFile,
    RenderRequest,
    ReportAggregate,
    ReportClaim,
    ReportPoc,
    ReportRequestRef,
    ReportSpec,
    RequestOutcome,
    report_rendered_key,
    report_summary_key,
    report_work_prefix,
)
from workflows.yearly_video_types import CompleteVideoRequest

LOCALE_DIR = Path(__file__).parent / "locale"
"""The activities' catalog (``messages`` domain): the messages of failed reports live there too."""

register_catalog_dir(LOCALE_DIR)

WORK_FILE_MISSING = "WorkFileMissing"
"""A claim check that is not in storage: retrying cannot bring it back (and it is not the person's fault)."""

HEARTBEAT_SECONDS = 1.0
"""How often the render activity reports; the SDK throttles what reaches the server."""
PROGRESS_RECORD_STEP = 5
"""The render activity records its progress in the request each time it rose by this many points."""
PROGRESS_RECORD_SECONDS = 2.0
"""... or at least this often, so a long table still moves the API's progress bar."""

STEP_PHRASES: dict[str, str] = {
    STEP_CLAIM: N_("starting the report"),
    STEP_PROFILE: N_("reading your profile"),
    STEP_SELECT: N_("selecting your POCs"),
    STEP_AGGREGATE: N_("summarising your POCs"),
    STEP_RENDER: N_("drawing the file"),
    STEP_PUBLISH: N_("saving the file"),
    STEP_COMPLETE: N_("finishing the request"),
}
"""What the report was doing when it failed, completing the sentence of `failure_message`."""

FORMAT_NAMES: dict[str, str] = {"pdf": "PDF", "xlsx": "Excel (XLSX)", "csv": "CSV"}


def failure_message(request: FailRequest) -> str:
    """The request's ``error_message``: what went wrong, and what the person can do, in their language."""
    locale = normalize_locale(request.locale) or "pt_BR"
    code = request.error_code
    if code == REJECTION_ERROR_CODES[TOO_MANY_POCS_ERROR]:
        return translate(
            locale,
            "This report would include {count} POCs, but one report holds at most {limit}. "
            "Choose a shorter period or fewer tags and request it again.",
            count=format_number(request.count, locale) if request.count is not None else "?",
            limit=format_number(request.limit, locale) if request.limit is not None else "?",
        )
    if code == REJECTION_ERROR_CODES[UNSUPPORTED_FORMAT_ERROR]:
        return translate(
            locale,
            'Reports cannot be produced as "{format}". Choose PDF, Excel (XLSX) or CSV.',
            format=request.format or "?",
        )
    if code == REJECTION_ERROR_CODES[INVALID_REQUEST_ERROR]:
        return translate(
            locale,
            "The report request could not be understood. "
            "Check its period, tags and grouping, then request it again.",
        )
    if code == REJECTION_ERROR_CODES[OWNER_NOT_FOUND_ERROR]:
        return translate(
            locale, "Your account could not be found in this organisation, so the report was not produced."
        )
    phrase = STEP_PHRASES.get(request.step or "", STEP_PHRASES[STEP_CLAIM])
    return translate(
        locale,
        "The report could not be finished while {step}. Nothing was kept: "
        "please request it again in a few minutes.",
        step=translate(locale, phrase),
    )


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as exc:
        raise ApplicationError(
            f"{field} is not a UUID: {value!r}", type=INVALID_REQUEST_ERROR, non_retryable=True
        ) from exc


def report_options(spec: ReportSpec) -> ReportOptions:
    """The renderers' options; options no renderer can honour are the request's fault, not retried."""
    try:
        return ReportOptions(
            title=spec.title,
            owner_name=spec.owner_name,
            owner_email=spec.owner_email or None,
            format=spec.format,
            locale=normalize_locale(spec.locale) or spec.locale,
            time_zone=spec.time_zone,
            generated_at=parse_instant(spec.generated_at),
            period_from=parse_instant(spec.period_from) if spec.period_from else None,
            period_to=parse_instant(spec.period_to) if spec.period_to else None,
            include_tags=tuple(spec.include_tags),
            exclude_tags=tuple(spec.exclude_tags),
            group_by=tuple(spec.group_by),
        )
    except (InvalidReportOptionsError, ValueError) as exc:
        # The workflow refuses unknown formats before any work; what is left is the request's fault.
        raise ApplicationError(str(exc), type=INVALID_REQUEST_ERROR, non_retryable=True) from exc


class Renderer(Protocol):
    """`api.content.reports.render.render_report`'s signature: synchronous, reporting 0.0-1.0."""

    def __call__(
        self,
        pocs: Sequence[ReportPoc],
        summary: ReportSummary,
        options: ReportOptions,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> RenderedReport: ...


class _RenderStopped(Exception):
    """Raised inside the renderer's thread, at its next progress call, once the run was cancelled."""


class ContentActivities:
    """The report workflow's activities on content's database and storage, one engine per worker."""

    def __init__(
        self,
        engine: PostgresEngine,
        storage: BlobStorage,
        *,
        pool_min: int = 1,
        pool_max: int = 5,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        renderer: Renderer = render_report,
    ) -> None:
        """`renderer` is the real one but in tests that need a slower one to cancel it mid-way."""
        self.engine = engine
        self.storage = storage
        self._pool_size = (pool_min, pool_max)
        self._heartbeat_seconds = heartbeat_seconds
        self._renderer = renderer

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            build_engine(settings),
            local_blob_storage(settings),
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
        )

    async def __aenter__(self) -> Self:
        await self.engine.start_connection_pool(min_size=self._pool_size[0], max_size=self._pool_size[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.engine.close_connection_pool()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.claim_report_request,
            self.aggregate_report,
            self.render_report,
            self.publish_report,
            self.complete_report,
            self.fail_report,
            self.cancel_report,
            self.discard_report_files,
        ]

    # -- helpers -------------------------------------------------------------------------------

    async def _record_progress(self, tenant_id: str, request_id: str, progress: int, step: str) -> None:
        """Record progress, shielded: a cancellation arriving mid-transaction must not strand its
        connection (the pool could then never close); the write is tiny and idempotent."""
        await asyncio.shield(self._write_progress(tenant_id, request_id, progress, step))

    async def _write_progress(self, tenant_id: str, request_id: str, progress: int, step: str) -> None:
        async with tenant_transaction(self.engine, _uuid(tenant_id, "tenant_id")) as transaction:
            await repository.update_progress(
                transaction.connection, _uuid(request_id, "request_id"), progress=progress, step=step
            )

    async def _complete(
        self,
        request: CompleteRequest | CompleteVideoRequest,
        *,
        thumbnail_key: str | None,
        work_prefixes: Sequence[str],
    ) -> RequestOutcome:
        """COMPLETED with its file (and poster), then the work folders go; else the status it had."""
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            completed = await repository.mark_completed(
                transaction.connection,
                request_id,
                result_key=request.result_key,
                media_type=request.media_type,
                size=request.size,
                poc_count=request.poc_count,
                thumbnail_key=thumbnail_key,
            )
            current = (
                None if completed else await repository.fetch_request(transaction.connection, request_id)
            )
        if completed:
            for prefix in work_prefixes:
                await self.storage.delete_prefix(prefix)
            return RequestOutcome(status="COMPLETED", changed=True)
        return RequestOutcome(status=None if current is None else current.status, changed=False)

    async def _fail(self, request: FailRequest, message: str) -> RequestOutcome:
        """FAILED with a stable code and `message` (in the request's language)."""
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            failed = await repository.mark_failed(
                transaction.connection, request_id, error_code=request.error_code, error_message=message
            )
        if failed:
            return RequestOutcome(status="FAILED", changed=True)
        return RequestOutcome(status=await self._status(tenant_id, request_id), changed=False)

    async def _status(self, tenant_id: UUID, request_id: UUID) -> str | None:
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            record = await repository.fetch_request(transaction.connection, request_id)
        return None if record is None else record.status

    async def _work_file(self, key: str) -> bytes:
        try:
            return await self.storage.get(key)
        except BlobNotFoundError as exc:
            raise ApplicationError(
                f"the work file {key} is missing", type=WORK_FILE_MISSING, non_retryable=True
            ) from exc

    # -- the steps -----------------------------------------------------------------------------

    @activity.defn(name=CLAIM_REPORT_ACTIVITY)
    async def claim_report_request(self, request: ClaimRequest) -> ReportClaim:
        """PENDING -> PROCESSING; a request gone or ended (cancelled before it started) is not claimed."""
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            claimed = await repository.claim_request(transaction.connection, request_id)
            if claimed is None:
                current = await repository.fetch_request(transaction.connection, request_id)
                return ReportClaim(claimed=False, status=None if current is None else current.status)
            await repository.update_progress(
                transaction.connection, request_id, progress=request.progress, step=request.step
            )
        return ReportClaim(claimed=True)

    @activity.defn(name=AGGREGATE_REPORT_ACTIVITY)
    async def aggregate_report(self, request: AggregateRequest) -> ReportAggregate:
        """Record which POCs the report includes, and store their summary beside them."""
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        await self._record_progress(
            request.tenant_id,
            request.request_id,
            STEP_STARTS_AT[STEP_AGGREGATE],
            REQUEST_STEPS[STEP_AGGREGATE],
        )
        options = report_options(request.spec)
        pocs = decode_pocs(await self._work_file(request.pocs_key))
        summary = await asyncio.to_thread(summarise, pocs, options)
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            await repository.record_selected_pocs(
                transaction.connection, tenant_id, request_id, [UUID(poc.poc_id) for poc in pocs]
            )
        key = report_summary_key(request.tenant_id, request.user_id, request.request_id)
        await self.storage.put(key, encode_summary(summary), "application/json")
        await self._record_progress(request.tenant_id, request.request_id, request.progress, request.step)
        return ReportAggregate(summary_key=key, poc_count=len(pocs))

    @activity.defn(name=RENDER_REPORT_ACTIVITY)
    async def render_report(self, request: RenderRequest) -> RenderedFile:
        """Draw the file in a thread; heartbeats (and the request's progress) follow the renderer's."""
        options = report_options(request.spec)
        pocs = decode_pocs(await self._work_file(request.pocs_key))
        summary = decode_summary(await self._work_file(request.summary_key))
        span = request.progress_to - request.progress_from
        stop = threading.Event()
        fraction = [0.0]

        def on_progress(value: float) -> None:
            if stop.is_set():
                raise _RenderStopped
            fraction[0] = value

        rendering = asyncio.ensure_future(
            asyncio.to_thread(self._renderer, pocs, summary, options, progress=on_progress)
        )
        recorded, recorded_at = request.progress_from, time.monotonic()
        try:
            while True:
                done, _pending = await asyncio.wait({rendering}, timeout=self._heartbeat_seconds)
                percent = request.progress_from + int(span * fraction[0])
                activity.heartbeat({"percent": percent, "fraction": round(fraction[0], 3)})
                if done:
                    break
                if percent >= recorded + PROGRESS_RECORD_STEP or (
                    percent > recorded and time.monotonic() - recorded_at >= PROGRESS_RECORD_SECONDS
                ):
                    await self._record_progress(
                        request.tenant_id, request.request_id, percent, REQUEST_STEPS[STEP_RENDER]
                    )
                    recorded, recorded_at = percent, time.monotonic()
        except BaseException:
            # Cancelled (or the progress could not be recorded): the thread cannot be killed, so
            # let it reach its next progress call and stop there; nothing is written after the
            # workflow starts deleting the run's files, and no retry renders beside it.
            stop.set()
            with contextlib.suppress(BaseException):
                await rendering
            raise
        try:
            rendered = rendering.result()
        except InvalidReportOptionsError as exc:
            raise ApplicationError(str(exc), type=INVALID_REQUEST_ERROR, non_retryable=True) from exc
        key = report_rendered_key(request.tenant_id, request.user_id, request.request_id, rendered.extension)
        await self.storage.put(key, rendered.data, rendered.media_type)
        await self._record_progress(
            request.tenant_id, request.request_id, request.progress_to, request.next_step
        )
        activity.logger.info(
            "rendered report %s: %s, %d bytes, %d POCs",
            request.request_id,
            rendered.media_type,
            len(rendered.data),
            len(pocs),
        )
        return RenderedFile(
            key=key, media_type=rendered.media_type, extension=rendered.extension, size=len(rendered.data)
        )

    @activity.defn(name=PUBLISH_REPORT_ACTIVITY)
    async def publish_report(self, request: PublishRequest) -> PublishedReport:
        """Copy the rendered file to the request's result key, with its media type."""
        owner_folder = f"tenants/{request.tenant_id}/users/{request.user_id}/reports/"
        if not request.result_key.startswith(owner_folder):
            raise ApplicationError(
                f"result key {request.result_key!r} is outside {owner_folder}",
                type=INVALID_REQUEST_ERROR,
                non_retryable=True,
            )
        data = await self._work_file(request.rendered.key)
        await self.storage.put(request.result_key, data, request.rendered.media_type)
        await self._record_progress(request.tenant_id, request.request_id, request.progress, request.step)
        return PublishedReport(
            result_key=request.result_key, media_type=request.rendered.media_type, size=len(data)
        )

    @activity.defn(name=COMPLETE_REPORT_ACTIVITY)
    async def complete_report(self, request: CompleteRequest) -> RequestOutcome:
        """COMPLETED with its file, then the work prefix goes; the status it had if it ended otherwise."""
        return await self._complete(
            request,
            thumbnail_key=None,
            work_prefixes=[report_work_prefix(request.tenant_id, request.user_id, request.request_id)],
        )

    @activity.defn(name=FAIL_REPORT_ACTIVITY)
    async def fail_report(self, request: FailRequest) -> RequestOutcome:
        """FAILED with a stable code and a message in the request's language."""
        return await self._fail(request, failure_message(request))

    @activity.defn(name=CANCEL_REPORT_ACTIVITY)
    async def cancel_report(self, request: ReportRequestRef) -> RequestOutcome:
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            cancelled = await repository.mark_cancelled(transaction.connection, request_id)
        if cancelled:
            return RequestOutcome(status="CANCELLED", changed=True)
        return RequestOutcome(status=await self._status(tenant_id, request_id), changed=False)

    @activity.defn(name=DISCARD_REPORT_FILES_ACTIVITY)
    async def discard_report_files(self, request: DiscardRequest) -> int:
        """Delete the named files and the prefix's; what is already gone counts for nothing."""
        removed = 0
        for key in request.keys:
            if await self.storage.exists(key):
                await self.storage.delete(key)
                removed += 1
        if request.prefix:
            removed += await self.storage.delete_prefix(request.prefix)
        activity.logger.info("discarded %d report files", removed)
        return removed
