"""The Excel report: a summary sheet with native charts, a data sheet and one sheet per grouping.

Cells are typed (dates are Excel dates in the report's time zone, public is a boolean, links are
hyperlinks), so people sort, filter and pivot without converting text. Charts are Excel's own
(xlsxwriter ``add_chart``) and read the summary's cells, so they follow any edit. Every text
from a POC is written with ``write_string``: a name like ``=HYPERLINK(...)`` stays text and is
never stored as a formula.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from api.common.i18n import N_
from api.content.reports.aggregate import ReportSummary, ordered_pocs
from api.content.reports.model import PRODUCT_NAME, ReportOptions, clean_text, is_web_link, poc_created_at
from api.content.reports.text import ReportText
from workflows.report_generation_types import ReportPoc

MAX_URL_LENGTH = 2079
"""Excel refuses longer hyperlinks; such an address is written as text."""
MAX_SHEET_NAME = 31
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\']")
_MAX_COLUMN_WIDTH = 60
_HEADER_COLOR = "#0072B2"
_CHART_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#785EF0")


class _Formats:
    def __init__(self, workbook: Any, locale: str) -> None:
        date_pattern = "dd/mm/yyyy hh:mm" if locale == "pt_BR" else "yyyy-mm-dd hh:mm"
        self.title = workbook.add_format({"bold": True, "font_size": 16, "font_color": _HEADER_COLOR})
        self.label = workbook.add_format({"bold": True, "font_color": "#6C757D"})
        self.header = workbook.add_format(
            {"bold": True, "font_color": "#FFFFFF", "bg_color": _HEADER_COLOR, "border": 1, "valign": "top"}
        )
        self.section = workbook.add_format({"bold": True, "font_size": 12})
        self.datetime = workbook.add_format({"num_format": date_pattern, "align": "left"})
        self.integer = workbook.add_format({"num_format": "#,##0"})
        self.percent = workbook.add_format({"num_format": "0.0%"})
        self.link = workbook.add_format({"font_color": "#0563C1", "underline": 1})
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.muted = workbook.add_format({"italic": True, "font_color": "#6C757D"})


class _Widths:
    """The widest text of each column, in characters, to size columns to their content."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.widths = [len(header) + 2 for header in headers]

    def see(self, column: int, text: str) -> None:
        self.widths[column] = max(self.widths[column], min(len(text) + 2, _MAX_COLUMN_WIDTH))

    def apply(self, sheet: Any) -> None:
        for column, width in enumerate(self.widths):
            sheet.set_column(column, column, width)


def render_xlsx(
    pocs: Sequence[ReportPoc],
    summary: ReportSummary,
    options: ReportOptions,
    progress: Callable[[float], None],
) -> bytes:
    text = ReportText(options)
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    formats = _Formats(workbook, options.locale)
    _properties(workbook, text, summary, options)
    names = _SheetNames()
    ordered = ordered_pocs(pocs)
    by_id = {poc.poc_id: poc for poc in ordered}

    summary_sheet = workbook.add_worksheet(names.unique(text(N_("Summary"))))
    data_sheet_name = names.unique(text(N_("POCs")))
    data_sheet = workbook.add_worksheet(data_sheet_name)
    _summary_sheet(workbook, summary_sheet, formats, text, summary, options)
    progress(0.1)

    total_rows = max(1, len(ordered) + sum(b.count for group in summary.groups for b in group.buckets))
    written = 0

    def rows_written(count: int) -> None:
        nonlocal written
        written += count
        progress(0.1 + 0.8 * written / total_rows)

    _data_sheet(data_sheet, formats, text, ordered, rows_written)
    for group in summary.groups:
        sheet = workbook.add_worksheet(names.unique(text.group_title(group.field)))
        rows = [
            (text.label(group.field, bucket.label), by_id[poc_id])
            for bucket in group.buckets
            for poc_id in bucket.poc_ids
            if poc_id in by_id
        ]
        _group_sheet(sheet, formats, text, group.field, rows)
        rows_written(len(rows))
    summary_sheet.activate()
    workbook.close()
    progress(1.0)
    return output.getvalue()


class _SheetNames:
    """Excel's rules: at most 31 characters, none of ``[]:*?/\\'``, unique regardless of case."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def unique(self, wanted: str) -> str:
        base = _SHEET_NAME_FORBIDDEN.sub(" ", wanted).strip()[:MAX_SHEET_NAME] or "Sheet"
        name, suffix = base, 2
        while name.casefold() in self.used:
            tail = f" ({suffix})"
            name, suffix = base[: MAX_SHEET_NAME - len(tail)] + tail, suffix + 1
        self.used.add(name.casefold())
        return name


def _properties(workbook: Any, text: ReportText, summary: ReportSummary, options: ReportOptions) -> None:
    workbook.set_properties(
        {
            "title": clean_text(options.title),
            "subject": text(N_("POC report")) + " · " + text.period(),
            "author": clean_text(options.owner_name),
            "company": PRODUCT_NAME,
            "keywords": ", ".join(tally.label or "" for tally in summary.top_tags),
            "comments": text.generated(),
            "created": options.generated_at.astimezone(UTC),
        }
    )
    workbook.set_custom_property("Language", text.language_tag)
    workbook.set_custom_property("Time zone", options.time_zone)


def _local_naive(text: ReportText, moment: datetime) -> datetime:
    """Excel dates have no zone: the wall-clock time of the report's zone, as the reader expects."""
    return text.local(moment).replace(tzinfo=None, microsecond=0)


def _summary_sheet(
    workbook: Any,
    sheet: Any,
    formats: _Formats,
    text: ReportText,
    summary: ReportSummary,
    options: ReportOptions,
) -> None:
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 1, 34)
    sheet.set_column(2, 2, 12)
    sheet.write_string(0, 0, clean_text(options.title), formats.title)
    busiest = summary.busiest_month
    facts: list[tuple[str, Any, Any]] = [
        (text(N_("Owner")), clean_text(text.owner()), None),
        (text(N_("Period")), text.period(), None),
        (text(N_("Generated")), _local_naive(text, options.generated_at), formats.datetime),
        (text(N_("Time zone")), options.time_zone, None),
        (text(N_("POCs")), summary.poc_count, formats.integer),
        (text(N_("Public")), summary.public_count, formats.integer),
        (text(N_("Private")), summary.private_count, formats.integer),
        (text(N_("Languages")), summary.language_count, formats.integer),
        (text(N_("Distinct tags")), summary.tag_count, formats.integer),
        (text(N_("Busiest month")), text.month(busiest.month) if busiest else "—", None),
        (text(N_("POCs in the busiest month")), busiest.count if busiest else 0, formats.integer),
    ]
    if summary.first_created_at and summary.last_created_at:
        facts.append((text(N_("First POC")), _local_naive(text, summary.first_created_at), formats.datetime))
        facts.append((text(N_("Latest POC")), _local_naive(text, summary.last_created_at), formats.datetime))
    if filters := text.tag_filters():
        facts.append((text(N_("Tag filters")), clean_text(filters), None))
    row = 2
    for label, value, cell_format in facts:
        sheet.write_string(row, 0, label, formats.label)
        if isinstance(value, datetime):
            sheet.write_datetime(row, 1, value, cell_format)
        elif isinstance(value, int):
            sheet.write_number(row, 1, value, cell_format)
        else:
            sheet.write_string(row, 1, value)
        row += 1
    if not summary.poc_count:
        sheet.write_string(row + 1, 0, text(N_("No POCs in this period.")), formats.muted)
    row += 2

    sheet_name = sheet.get_name()
    language_rows = [(text.language(tally.label), tally.count) for tally in summary.languages]
    month_rows = [(text.month(tally.month), tally.count) for tally in summary.months]
    tag_rows = [(clean_text(tally.label or ""), tally.count) for tally in summary.top_tags]
    tables = (
        (text(N_("POCs per language")), text(N_("Language")), language_rows, "bar"),
        (text(N_("POCs per month")), text(N_("Month")), month_rows, "column"),
        (text(N_("Top tags")), text(N_("Tag")), tag_rows, "bar"),
    )
    chart_row = 2
    for title, column_title, rows, chart_type in tables:
        sheet.write_string(row, 0, title, formats.section)
        sheet.write_string(row + 1, 0, column_title, formats.header)
        sheet.write_string(row + 1, 1, text(N_("POCs")), formats.header)
        sheet.write_string(row + 1, 2, text(N_("Share")), formats.header)
        first = row + 2
        for offset, (label, count) in enumerate(rows):
            sheet.write_string(first + offset, 0, label)
            sheet.write_number(first + offset, 1, count, formats.integer)
            sheet.write_number(
                first + offset, 2, count / summary.poc_count if summary.poc_count else 0, formats.percent
            )
        last = first + len(rows) - 1
        if rows:
            chart = _chart(workbook, chart_type, title, sheet_name, first, last, len(rows))
            sheet.insert_chart(
                chart_row, 4, chart, {"x_scale": 1.6, "y_scale": 1.25 if len(rows) > 12 else 1.0}
            )
            chart_row += 20 if len(rows) > 12 else 16
        else:
            sheet.write_string(first, 0, text(N_("No data")), formats.muted)
            last = first
        row = last + 3


def _chart(
    workbook: Any, chart_type: str, title: str, sheet_name: str, first: int, last: int, points: int
) -> Any:
    chart = workbook.add_chart({"type": chart_type})
    series: dict[str, Any] = {
        "name": title,
        "categories": [sheet_name, first, 0, last, 0],
        "values": [sheet_name, first, 1, last, 1],
        "gap": 60,
    }
    if chart_type == "bar":
        series["points"] = [{"fill": {"color": _CHART_COLORS[i % len(_CHART_COLORS)]}} for i in range(points)]
        series["data_labels"] = {"value": True}
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"min": 0, "major_gridlines": {"visible": True, "line": {"color": "#DEE2E6"}}})
    else:
        series["fill"] = {"color": _CHART_COLORS[0]}
        if points <= 24:
            series["data_labels"] = {"value": True}
        chart.set_y_axis({"min": 0, "major_gridlines": {"visible": True, "line": {"color": "#DEE2E6"}}})
        chart.set_x_axis({"num_font": {"rotation": -45}})
    chart.add_series(series)
    chart.set_title({"name": title, "name_font": {"size": 12}})
    chart.set_legend({"none": True})
    return chart


def _data_headers(text: ReportText) -> list[str]:
    return [
        text(N_("Name")),
        text(N_("Description")),
        text(N_("Language")),
        text(N_("Frameworks")),
        text(N_("Tags")),
        text(N_("Is public")),
        text(N_("Created")),
        text(N_("Repository")),
        text(N_("ID")),
    ]


def _write_header(sheet: Any, formats: _Formats, headers: Sequence[str], rows: int) -> None:
    for column, header in enumerate(headers):
        sheet.write_string(0, column, header, formats.header)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(rows, 1), len(headers) - 1)


def _write_link(sheet: Any, row: int, column: int, url: str, label: str, formats: _Formats) -> None:
    if is_web_link(url) and len(url) <= MAX_URL_LENGTH:
        sheet.write_url(row, column, url, formats.link, label)
    else:
        sheet.write_string(row, column, label)


def _data_sheet(
    sheet: Any,
    formats: _Formats,
    text: ReportText,
    ordered: Sequence[ReportPoc],
    rows_written: Callable[[int], None],
) -> None:
    headers = _data_headers(text)
    widths = _Widths(headers)
    _write_header(sheet, formats, headers, len(ordered))
    for index, poc in enumerate(ordered):
        row = index + 1
        name = clean_text(poc.name)
        url = clean_text(poc.repository_url)
        values = (
            clean_text(poc.description or ""),
            text.language(poc.language),
            ", ".join(clean_text(framework) for framework in poc.frameworks),
            ", ".join(clean_text(tag) for tag in poc.tags),
        )
        _write_link(sheet, row, 0, url, name, formats)
        widths.see(0, name)
        for offset, value in enumerate(values, start=1):
            sheet.write_string(row, offset, value)
            widths.see(offset, value)
        sheet.write_boolean(row, 5, poc.is_public)
        sheet.write_datetime(row, 6, _local_naive(text, poc_created_at(poc)), formats.datetime)
        _write_link(sheet, row, 7, url, url, formats)
        widths.see(7, url)
        sheet.write_string(row, 8, poc.poc_id)
        widths.see(8, poc.poc_id)
        if index % 250 == 249:
            rows_written(250)
    rows_written(len(ordered) % 250)
    widths.see(6, "0000-00-00 00:00")
    widths.apply(sheet)


def _group_sheet(
    sheet: Any,
    formats: _Formats,
    text: ReportText,
    field: str,
    rows: Sequence[tuple[str, ReportPoc]],
) -> None:
    headers = [
        text.group_column(field),
        text(N_("Name")),
        text(N_("Language")),
        text(N_("Tags")),
        text(N_("Created")),
    ]
    widths = _Widths(headers)
    _write_header(sheet, formats, headers, len(rows))
    for index, (group_label, poc) in enumerate(rows, start=1):
        name = clean_text(poc.name)
        tags = ", ".join(clean_text(tag) for tag in poc.tags)
        language = text.language(poc.language)
        label = clean_text(group_label)
        sheet.write_string(index, 0, label)
        _write_link(sheet, index, 1, clean_text(poc.repository_url), name, formats)
        sheet.write_string(index, 2, language)
        sheet.write_string(index, 3, tags)
        sheet.write_datetime(index, 4, _local_naive(text, poc_created_at(poc)), formats.datetime)
        for column, value in ((0, label), (1, name), (2, language), (3, tags)):
            widths.see(column, value)
    widths.see(4, "0000-00-00 00:00")
    widths.apply(sheet)
