"""Content's problems: the kernel's classes with codes a client can act on.

Titles and details are English msgids translated by the kernel's handler (catalogs in
``api/content/locale``). A request of another user, or of another tenant, is "not found",
exactly like one that does not exist, so request ids reveal nothing.
"""

from __future__ import annotations

from datetime import datetime

from api.common.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationProblem,
)
from api.common.i18n import N_, format_date, translate, translate_plural

STATUS_NAMES: dict[str, str] = {
    "PENDING": N_("waiting to start"),
    "PROCESSING": N_("being generated"),
    "COMPLETED": N_("completed"),
    "FAILED": N_("failed"),
    "CANCELLED": N_("cancelled"),
}
"""How a detail names a request's status to a person; the code itself is in ``reportStatus``."""


def _with_status_name(detail: str | None, status: str, locale: str) -> str | None:
    if detail is None:
        return None
    name = STATUS_NAMES.get(status)
    return translate(locale, detail, status=translate(locale, name) if name else status)


class ReportNotFoundError(NotFoundError):
    code = "report-not-found"
    title = N_("Report request not found")

    def __init__(self) -> None:
        super().__init__(N_("There is no report request with this id among yours."))


class ReportAlreadyFinishedError(ConflictError):
    """Cancelling a request that has already ended: nothing is left to stop."""

    code = "report-already-finished"
    title = N_("Report request already finished")

    def __init__(self, status: str) -> None:
        self.report_status = status
        super().__init__(
            N_("This report request has already ended ({status}); there is nothing left to cancel."),
            extra={"reportStatus": status},
        )

    def render_detail(self, locale: str) -> str | None:
        return _with_status_name(self.detail, self.report_status, locale)


class ReportNotReadyError(ConflictError):
    code = "report-not-ready"
    title = N_("Report not ready")

    def __init__(self, status: str) -> None:
        self.report_status = status
        super().__init__(
            N_("The report can be downloaded once it is completed; it is {status} now."),
            extra={"reportStatus": status},
        )

    def render_detail(self, locale: str) -> str | None:
        return _with_status_name(self.detail, self.report_status, locale)


class IdempotencyKeyReusedError(ValidationProblem):
    """The same key was sent before with another body: replaying would return the wrong report."""

    code = "idempotency-key-reused"
    title = N_("Idempotency key already used")

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or N_(
                "This Idempotency-Key was already used for a different report request;"
                " use a new key for a new request."
            ),
            errors=[
                {
                    "field": "Idempotency-Key",
                    "message": N_("Already used with a different request body."),
                }
            ],
        )


class QuotaExceededError(RateLimitedError):
    """The tenant's plan allows no more reports this month; ``Retry-After`` says when it resets."""

    code = "quota-exceeded"
    title = N_("Report quota exceeded")

    def __init__(self, *, plan: str, limit: int, used: int, resets_at: datetime, retry_after: int) -> None:
        self.plan = plan
        self.limit = limit
        self.resets_at = resets_at
        super().__init__(
            retry_after=retry_after,
            extra={
                "plan": plan,
                "limit": limit,
                "used": used,
                "resetsAt": resets_at.isoformat().replace("+00:00", "Z"),
            },
        )

    def render_detail(self, locale: str) -> str:
        return translate_plural(
            locale,
            "The {plan} plan allows {count} report per month, and this month's is used."
            " More can be requested from {date}.",
            "The {plan} plan allows {count} reports per month, and this month's are used."
            " More can be requested from {date}.",
            self.limit,
            plan=self.plan,
            date=format_date(self.resets_at.date(), locale, format="long"),
        )


class QueueUnavailableError(ServiceUnavailableError):
    """The request was stored but its workflow could not be started; it is marked FAILED."""

    code = "queue-unavailable"
    title = N_("Report generation unavailable")

    def __init__(self, report_id: str, *, retry_after: int) -> None:
        super().__init__(
            N_(
                "Reports cannot be generated right now. Your request was not queued and does not"
                " count towards your quota; please try again in a minute."
            ),
            retry_after=retry_after,
            extra={"reportId": report_id},
        )


class CancelUnavailableError(ServiceUnavailableError):
    """Temporal did not take the cancellation; the wish is recorded and a retry delivers it."""

    code = "queue-unavailable"
    title = N_("Report generation unavailable")

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            N_("The report could not be cancelled right now; please try again in a minute."),
            retry_after=retry_after,
        )


class DownloadLinkError(PermissionDeniedError):
    """A download link that was tampered with, has expired, or names no report file."""

    code = "invalid-download-link"
    title = N_("Invalid download link")

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__(
            N_("This download link has expired; open the report request again to get a new one.")
            if expired
            else N_("This download link is not valid.")
        )
        if expired:
            self.code = "expired-download-link"


class ReportFileMissingError(NotFoundError):
    code = "report-file-missing"
    title = N_("Report file not found")

    def __init__(self) -> None:
        super().__init__(N_("The file of this report no longer exists."))


# -- videos ---------------------------------------------------------------------------------------


class VideoNotFoundError(NotFoundError):
    code = "video-not-found"
    title = N_("Video request not found")

    def __init__(self) -> None:
        super().__init__(N_("There is no video request with this id among yours."))


class VideoAlreadyFinishedError(ConflictError):
    code = "video-already-finished"
    title = N_("Video request already finished")

    def __init__(self, status: str) -> None:
        self.video_status = status
        super().__init__(
            N_("This video request has already ended ({status}); there is nothing left to cancel."),
            extra={"videoStatus": status},
        )

    def render_detail(self, locale: str) -> str | None:
        return _with_status_name(self.detail, self.video_status, locale)


class VideoNotReadyError(ConflictError):
    code = "video-not-ready"
    title = N_("Video not ready")

    def __init__(self, status: str) -> None:
        self.video_status = status
        super().__init__(
            N_("The video can be downloaded once it is completed; it is {status} now."),
            extra={"videoStatus": status},
        )

    def render_detail(self, locale: str) -> str | None:
        return _with_status_name(self.detail, self.video_status, locale)


class VideoIdempotencyKeyReusedError(IdempotencyKeyReusedError):
    def __init__(self) -> None:
        super().__init__(
            N_(
                "This Idempotency-Key was already used for a different video request;"
                " use a new key for a new request."
            )
        )


class NoPocsInPeriodError(ValidationProblem):
    """The period (and tags) hold none of the person's POCs: an empty video would help nobody."""

    code = "no-pocs-in-period"
    title = N_("No POCs in this period")

    def __init__(self, video_id: str) -> None:
        super().__init__(
            N_(
                "You have no POCs in this period with these tags, so there is nothing to put in a video."
                " Choose another year or period, or fewer tags; this request does not count towards"
                " your quota."
            ),
            extra={"videoId": video_id},
        )


class VideoQuotaExceededError(QuotaExceededError):
    """The tenant's plan allows no more videos this (UTC) year."""

    title = N_("Video quota exceeded")

    def render_detail(self, locale: str) -> str:
        return translate_plural(
            locale,
            "The {plan} plan allows {count} video per year, and this year's is used."
            " More can be requested from {date}.",
            "The {plan} plan allows {count} videos per year, and this year's are used."
            " More can be requested from {date}.",
            self.limit,
            plan=self.plan,
            date=format_date(self.resets_at.date(), locale, format="long"),
        )


class VideoQueueUnavailableError(ServiceUnavailableError):
    """The request was stored but its workflow did not answer; it is marked FAILED."""

    code = "queue-unavailable"
    title = N_("Video generation unavailable")

    def __init__(self, video_id: str, *, retry_after: int) -> None:
        super().__init__(
            N_(
                "Videos cannot be generated right now. Your request was not queued and does not"
                " count towards your quota; please try again in a minute."
            ),
            retry_after=retry_after,
            extra={"videoId": video_id},
        )


class VideoCancelUnavailableError(ServiceUnavailableError):
    code = "queue-unavailable"
    title = N_("Video generation unavailable")

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            N_("The video could not be cancelled right now; please try again in a minute."),
            retry_after=retry_after,
        )


class RecapUnavailableError(ServiceUnavailableError):
    code = "queue-unavailable"
    title = N_("Yearly recap unavailable")

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            N_("The yearly recap could not be started right now; please try again in a minute."),
            retry_after=retry_after,
        )


class RecapForbiddenError(PermissionDeniedError):
    """A tenant's owner starts the recap of their own tenant only; all tenants need the platform."""

    code = "recap-forbidden"

    def __init__(self) -> None:
        super().__init__(
            N_(
                "Only a platform administrator starts the yearly recap of every tenant or of another"
                " tenant; a tenant's owner starts it for their own tenant."
            )
        )
