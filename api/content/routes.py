"""Content's HTTP surface: report and video requests, and the downloads of their files.

Handlers only translate between HTTP and the service. Ids of requests the caller does not
own answer 404, exactly like ids that do not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, TypeVar
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_303_SEE_OTHER
from litestar.types import ControllerRouterHandler

from api.common.errors import PROBLEM_MEDIA_TYPE
from api.common.files import serve_signed_file
from api.common.i18n import request_locale
from api.common.pagination import Page, PageParams
from api.content.deps import ContentRuntime
from api.content.downloads import CONTENT_DOWNLOADS, DOWNLOADS_PATH, DownloadLink
from api.content.guards import tenant_members
from api.content.repository import ContentRequestRecord
from api.content.schemas import (
    REPORTS_PATH,
    VIDEOS_PATH,
    DownloadLinkOut,
    ProblemOut,
    RecapCreate,
    RecapOut,
    ReportCreate,
    ReportOut,
    VideoCreate,
    VideoOptionsOut,
    VideoOut,
)
from api.content.service import MAX_IDEMPOTENCY_KEY_LENGTH, Actor, RequestFilters, Submission

PUBLIC: dict[str, Any] = {"public": True}
REPLAY_HEADER = "Idempotent-Replayed"

Content = NamedDependency[ContentRuntime]
CurrentActor = NamedDependency[Actor]
Paging = NamedDependency[PageParams]

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        description=(
            "Any unique string (a UUID) chosen by the client: a retry with the same key and body "
            "returns the first request instead of creating another."
        ),
    ),
]


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemOut,
        media_type=PROBLEM_MEDIA_TYPE,
        description=description,
        generate_examples=False,
    )


NOT_FOUND = {404: _problem("No such request among the caller's own.")}
NO_VIDEO = {404: _problem("No such video request among the caller's own.")}
LOCATION_HEADER = ResponseHeader(
    name="Location", documentation_only=True, description="Where to poll the request."
)
REPLAYED_HEADER = ResponseHeader(
    name=REPLAY_HEADER,
    documentation_only=True,
    description='"true" when the Idempotency-Key named an earlier request, returned again.',
)
DOWNLOAD_HEADERS = [
    ResponseHeader(name="Location", documentation_only=True, description="The signed download link.")
]


def _cancel_responses(not_found: dict[int, ResponseSpec], kind: str) -> dict[int, ResponseSpec]:
    return {
        **not_found,
        409: _problem(f"The request has already ended ({kind}-already-finished)."),
        503: _problem("The cancellation could not be delivered; try again."),
    }


def _not_ready_responses(not_found: dict[int, ResponseSpec], kind: str) -> dict[int, ResponseSpec]:
    return {**not_found, 409: _problem(f"The {kind} is not completed ({kind}-not-ready).")}


Statuses = Annotated[
    list[str] | None,
    QueryParameter(name="status", description="PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED."),
]
CreatedFrom = Annotated[datetime | None, QueryParameter(name="createdFrom")]
CreatedTo = Annotated[datetime | None, QueryParameter(name="createdTo")]

Out = TypeVar("Out")


def _accepted(submission: Submission, path: str, out: Callable[[ContentRequestRecord], Out]) -> Response[Out]:
    """202 with where to poll, and whether an Idempotency-Key replayed an earlier request."""
    record = submission.record
    headers = {"Location": f"{path}/{record.request_id}"}
    if submission.replayed:
        headers[REPLAY_HEADER] = "true"
    return Response(out(record), status_code=HTTP_202_ACCEPTED, headers=headers)


def _filters(
    status: list[str] | None,
    formats: list[str] | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> RequestFilters:
    return RequestFilters(
        statuses=tuple(status or ()),
        formats=tuple(formats or ()),
        created_from=created_from,
        created_to=created_to,
    )


def _see_other(link: DownloadLink) -> Response[DownloadLinkOut]:
    return Response(
        DownloadLinkOut.from_link(link),
        status_code=HTTP_303_SEE_OTHER,
        headers={"Location": link.url, "Cache-Control": "no-store"},
    )


def _report_out(content: ContentRuntime, record: ContentRequestRecord) -> ReportOut:
    return ReportOut.from_record(record, content.reports.link_for(record), datetime.now(UTC))


def _video_out(content: ContentRuntime, record: ContentRequestRecord) -> VideoOut:
    videos = content.videos
    return VideoOut.from_record(
        record, videos.link_for(record), videos.thumbnail_link_for(record), datetime.now(UTC)
    )


class ReportController(Controller):
    path = REPORTS_PATH
    tags = ["reports"]  # noqa: RUF012 - Litestar's declared class attribute
    guards = [tenant_members]  # noqa: RUF012

    @post(
        "/",
        operation_id="createReport",
        status_code=HTTP_202_ACCEPTED,
        response_headers=[LOCATION_HEADER, REPLAYED_HEADER],
        responses={
            422: _problem("Invalid fields (all listed), or an Idempotency-Key reused with another body."),
            429: _problem("The plan's reports for this month are used (type quota-exceeded); see resetsAt."),
            503: _problem("The request could not be queued; it is marked FAILED and does not count."),
        },
    )
    async def create_report(
        self,
        data: JSONBody[ReportCreate],
        request: Request[Any, Any, Any],
        content: Content,
        actor: CurrentActor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ReportOut]:
        """Ask for a PDF, XLSX or CSV report of your POCs; answers at once and builds it in the background.

        Poll the ``Location`` for progress; the file is linked from there once completed.
        """
        submission = await content.reports.submit(
            actor, data.to_draft(), idempotency_key=idempotency_key, fallback_locale=request_locale(request)
        )
        return _accepted(submission, REPORTS_PATH, partial(_report_out, content))

    @get("/", operation_id="listReports")
    async def list_reports(
        self,
        content: Content,
        actor: CurrentActor,
        paging: Paging,
        status: Statuses = None,
        report_format: Annotated[
            list[str] | None, QueryParameter(name="format", description="pdf, xlsx or csv.")
        ] = None,
        created_from: CreatedFrom = None,
        created_to: CreatedTo = None,
    ) -> Page[ReportOut]:
        """Your report requests, newest first; repeat ``status`` or ``format`` to accept several."""
        filters = _filters(status, report_format, created_from, created_to)
        records, total = await content.reports.list_requests(actor, filters, paging)
        return Page.build([_report_out(content, record) for record in records], total, paging)

    @get("/{report_id:uuid}", operation_id="getReport", responses=NOT_FOUND)
    async def get_report(self, report_id: FromPath[UUID], content: Content, actor: CurrentActor) -> ReportOut:
        """Status, progress (0-100), step and estimated completion; a fresh download link once completed."""
        return _report_out(content, await content.reports.get(actor, report_id))

    @post(
        "/{report_id:uuid}/cancel",
        operation_id="cancelReport",
        status_code=HTTP_202_ACCEPTED,
        responses=_cancel_responses(NOT_FOUND, "report"),
    )
    async def cancel_report(
        self, report_id: FromPath[UUID], content: Content, actor: CurrentActor
    ) -> Response[ReportOut]:
        """Stop a pending or running request; partial files are deleted and it ends as CANCELLED."""
        record = await content.reports.cancel(actor, report_id)
        return Response(_report_out(content, record), status_code=HTTP_202_ACCEPTED)

    @get(
        "/{report_id:uuid}/download",
        operation_id="downloadReport",
        status_code=HTTP_303_SEE_OTHER,
        response_headers=DOWNLOAD_HEADERS,
        responses=_not_ready_responses(NOT_FOUND, "report"),
    )
    async def download_report(
        self, report_id: FromPath[UUID], content: Content, actor: CurrentActor
    ) -> Response[DownloadLinkOut]:
        """See Other: the report's file behind a signed link that works for 15 minutes without a token."""
        return _see_other(await content.reports.download_link(actor, report_id))


class DownloadController(Controller):
    """Signed links to finished reports and videos in the local store (S3 serves presigned URLs itself)."""

    path = DOWNLOADS_PATH
    tags = ["downloads"]  # noqa: RUF012

    @get(
        "/{key:path}",
        operation_id="getDownload",
        opt=PUBLIC,
        security=[{}],
        media_type="application/octet-stream",
        responses={
            403: _problem(
                "The link is forged (invalid-download-link) or has expired (expired-download-link)."
            ),
            404: _problem("The file no longer exists."),
        },
    )
    async def get_download(
        self,
        key: FromPath[str],
        content: Content,
        expires: Annotated[
            int, QueryParameter(name="expires", description="Unix time the link stops working.")
        ],
        signature: Annotated[str, QueryParameter(name="signature", max_length=128)],
        filename: Annotated[
            str | None, QueryParameter(name="filename", max_length=200, description="The name to save as.")
        ] = None,
    ) -> Response[bytes]:
        """A report, video or thumbnail behind a link from ``downloadUrl`` or ``thumbnailUrl``; no token
        needed, the link is the key."""
        return await serve_signed_file(
            content.storage, CONTENT_DOWNLOADS, key, expires, signature, filename=filename
        )


class VideoController(Controller):
    path = VIDEOS_PATH
    tags = ["videos"]  # noqa: RUF012 - Litestar's declared class attribute
    guards = [tenant_members]  # noqa: RUF012

    @post(
        "/",
        operation_id="createVideo",
        status_code=HTTP_202_ACCEPTED,
        response_headers=[LOCATION_HEADER, REPLAYED_HEADER],
        responses={
            422: _problem(
                "Invalid fields (all listed), an Idempotency-Key reused with another body, or no POCs"
                " in the period (no-pocs-in-period: the request is FAILED and does not count)."
            ),
            429: _problem("The plan's videos for this year are used (type quota-exceeded); see resetsAt."),
            503: _problem("The video could not be queued; it is marked FAILED and does not count."),
        },
    )
    async def create_video(
        self,
        data: JSONBody[VideoCreate],
        request: Request[Any, Any, Any],
        content: Content,
        actor: CurrentActor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[VideoOut]:
        """Ask for a recap video of your POCs of a year (or a period); answers once they are counted.

        A period without any of your POCs is refused (422). Otherwise poll the ``Location`` for
        progress; the video and its thumbnail are linked from there once completed.
        """
        submission = await content.videos.submit(
            actor, data.to_draft(), idempotency_key=idempotency_key, fallback_locale=request_locale(request)
        )
        return _accepted(submission, VIDEOS_PATH, partial(_video_out, content))

    @get("/", operation_id="listVideos")
    async def list_videos(
        self,
        content: Content,
        actor: CurrentActor,
        paging: Paging,
        status: Statuses = None,
        video_format: Annotated[
            list[str] | None,
            QueryParameter(name="format", description="square, landscape-720, landscape-1080 or story."),
        ] = None,
        created_from: CreatedFrom = None,
        created_to: CreatedTo = None,
    ) -> Page[VideoOut]:
        """Your video requests, newest first; repeat ``status`` or ``format`` to accept several."""
        filters = _filters(status, video_format, created_from, created_to)
        records, total = await content.videos.list_requests(actor, filters, paging)
        return Page.build([_video_out(content, record) for record in records], total, paging)

    @get("/options", operation_id="getVideoOptions")
    async def video_options(self, request: Request[Any, Any, Any]) -> VideoOptionsOut:
        """The styles, music tracks and formats a video can have, titled in the caller's language."""
        return VideoOptionsOut.build(request_locale(request))

    @get("/{video_id:uuid}", operation_id="getVideo", responses=NO_VIDEO)
    async def get_video(self, video_id: FromPath[UUID], content: Content, actor: CurrentActor) -> VideoOut:
        """Status, progress (0-100), step and estimated completion; fresh video and thumbnail links once
        completed."""
        return _video_out(content, await content.videos.get(actor, video_id))

    @post(
        "/{video_id:uuid}/cancel",
        operation_id="cancelVideo",
        status_code=HTTP_202_ACCEPTED,
        responses=_cancel_responses(NO_VIDEO, "video"),
    )
    async def cancel_video(
        self, video_id: FromPath[UUID], content: Content, actor: CurrentActor
    ) -> Response[VideoOut]:
        """Stop a pending or running video; partial files are deleted and it ends as CANCELLED."""
        record = await content.videos.cancel(actor, video_id)
        return Response(_video_out(content, record), status_code=HTTP_202_ACCEPTED)

    @get(
        "/{video_id:uuid}/download",
        operation_id="downloadVideo",
        status_code=HTTP_303_SEE_OTHER,
        response_headers=DOWNLOAD_HEADERS,
        responses=_not_ready_responses(NO_VIDEO, "video"),
    )
    async def download_video(
        self, video_id: FromPath[UUID], content: Content, actor: CurrentActor
    ) -> Response[DownloadLinkOut]:
        """See Other: the MP4 behind a signed link that works for 15 minutes without a token."""
        return _see_other(await content.videos.download_link(actor, video_id))

    @get(
        "/{video_id:uuid}/thumbnail",
        operation_id="getVideoThumbnail",
        status_code=HTTP_303_SEE_OTHER,
        response_headers=[
            ResponseHeader(name="Location", documentation_only=True, description="The signed image link.")
        ],
        responses=_not_ready_responses(NO_VIDEO, "video"),
    )
    async def video_thumbnail(
        self, video_id: FromPath[UUID], content: Content, actor: CurrentActor
    ) -> Response[DownloadLinkOut]:
        """See Other: the video's JPEG thumbnail behind a signed link (15 minutes)."""
        return _see_other(await content.videos.thumbnail_link(actor, video_id))

    @post(
        "/yearly-recaps",
        operation_id="startYearlyRecap",
        status_code=HTTP_202_ACCEPTED,
        responses={
            403: _problem("Only the platform, or a tenant's owner for their own tenant (recap-forbidden)."),
            503: _problem("The recap could not be started; try again."),
        },
    )
    async def start_yearly_recap(
        self, data: JSONBody[RecapCreate], content: Content, actor: CurrentActor
    ) -> Response[RecapOut]:
        """Make every person's recap video of a year now, for one tenant or (platform only) all.

        The same run the yearly schedule starts each January; people whose recap of that year
        exists already are skipped, so starting it twice never duplicates a video.
        """
        start = await content.recaps.start(actor, data.year, data.tenant_id)
        return Response(RecapOut.from_start(start), status_code=HTTP_202_ACCEPTED)


ROUTE_HANDLERS: list[ControllerRouterHandler] = [ReportController, VideoController, DownloadController]
