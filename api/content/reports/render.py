"""One entry point for every format, called by the render activity in a worker thread.

Rendering is CPU-bound and synchronous; `progress` receives 0.0-1.0 as the work advances so
the activity can heartbeat (and notice a cancellation) while a long table is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from api.content.reports.aggregate import ReportSummary
from api.content.reports.csv_export import render_csv
from api.content.reports.model import InvalidReportOptionsError, ReportOptions
from api.content.reports.pdf import render_pdf
from api.content.reports.xlsx import render_xlsx
from workflows.report_generation_types import ReportPoc

MEDIA_TYPES: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", "pdf"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}
"""Format -> (media type, file extension)."""


@dataclass(frozen=True)
class RenderedReport:
    data: bytes
    media_type: str
    extension: str
    page_count: int | None = None
    """Pages of a PDF; None for the other formats."""


class _Progress:
    """Forwards only rising values, so a caller's heartbeat never sees progress go backwards."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self._callback = callback
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        value = min(1.0, max(0.0, fraction))
        if self._callback is not None and value > self._last:
            self._last = value
            self._callback(value)


def render_report(
    pocs: Sequence[ReportPoc],
    summary: ReportSummary,
    options: ReportOptions,
    *,
    progress: Callable[[float], None] | None = None,
) -> RenderedReport:
    """The file of `options.format`; `summary` must be `summarise(pocs, options)` (it may be stored)."""
    step = _Progress(progress)
    step(0.0)
    media_type, extension = MEDIA_TYPES.get(options.format, ("", ""))
    page_count: int | None = None
    if options.format == "pdf":
        data, page_count = render_pdf(pocs, summary, options, step)
    elif options.format == "xlsx":
        data = render_xlsx(pocs, summary, options, step)
    elif options.format == "csv":
        data = render_csv(pocs, options, step)
    else:
        raise InvalidReportOptionsError(f"unknown report format {options.format!r}")
    step(1.0)
    return RenderedReport(data=data, media_type=media_type, extension=extension, page_count=page_count)
