"""The PDF report: cover, summary figures, charts, the groups asked for and the table of POCs.

Drawn with fpdf2 and the DejaVu fonts shipped beside the service (embedded as subsets, so
accents and most scripts print on any viewer). The table is drawn cell by cell rather than with
``FPDF.table()``: it is several times faster on a thousand rows (no per-cell dry run), and it
lets each row wrap the name and tags to two lines, cut the rest with an ellipsis, link the name
to its repository and repeat the header row on every page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF

from api.common.i18n import N_, translate_plural
from api.content.reports.aggregate import ReportSummary, Tally, ordered_pocs
from api.content.reports.charts import (
    ACCENT,
    FONT,
    GRID,
    INK,
    MUTED,
    PANEL,
    Bar,
    Column,
    draw_columns,
    draw_horizontal_bars,
    empty_panel,
    fit_text,
    horizontal_bars_height,
    text_width,
    wrap_text,
)
from api.content.reports.model import PRODUCT_NAME, ReportOptions, clean_text, is_web_link, poc_created_at
from api.content.reports.text import ReportText
from workflows.report_generation_types import ReportPoc

FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"
MARGIN = 15.0
BOTTOM_MARGIN = 16.0
MAX_LANGUAGE_BARS = 12
MAX_MONTH_COLUMNS = 72
"""Beyond six years of months the chart counts per year, so columns stay readable."""

ProgressStep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class _TableColumn:
    title: str
    width: float


class ReportPdf(FPDF):
    """An A4 page set with the report's header, footer and fonts."""

    def __init__(self, text: ReportText, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_text = text
        self.report_title = title
        self.add_font(FONT, "", FONTS_DIR / "DejaVuSans.ttf")
        self.add_font(FONT, "B", FONTS_DIR / "DejaVuSans-Bold.ttf")
        self.add_font(FONT, "I", FONTS_DIR / "DejaVuSans-Oblique.ttf")
        self.set_margins(MARGIN, 18, MARGIN)
        self.set_auto_page_break(True, margin=BOTTOM_MARGIN)
        self.set_font(FONT, "", 10)

    @property
    def content_width(self) -> float:
        return self.w - self.l_margin - self.r_margin

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT, "I", 7.5)
        self.set_text_color(*MUTED)
        width = self.content_width
        product = PRODUCT_NAME
        product_width = text_width(self, product)
        self.text(self.l_margin, 11, fit_text(self, self.report_title, width - product_width - 6))
        self.text(self.w - self.r_margin - product_width, 11, product)
        self.set_draw_color(*GRID)
        self.set_line_width(0.3)
        self.line(self.l_margin, 13, self.w - self.r_margin, 13)

    def footer(self) -> None:
        text = self.report_text
        self.set_draw_color(*GRID)
        self.set_line_width(0.3)
        self.line(self.l_margin, self.h - 12, self.w - self.r_margin, self.h - 12)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*MUTED)
        page = text(N_("Page {page} of {pages}"), page=self.page_no(), pages=self.str_alias_nb_pages)
        self.set_xy(self.l_margin, self.h - 11)
        self.cell(self.content_width * 0.7, 5, fit_text(self, text.generated(), self.content_width * 0.65))
        self.cell(self.content_width * 0.3, 5, page, align="R")


def render_pdf(
    pocs: Sequence[ReportPoc],
    summary: ReportSummary,
    options: ReportOptions,
    progress: ProgressStep,
) -> tuple[bytes, int]:
    """The PDF and its page count; `progress` gets 0.0-1.0 as the table rows are drawn."""
    text = ReportText(options)
    pdf = ReportPdf(text, clean_text(options.title))
    _metadata(pdf, text, summary, options)
    by_id = {poc.poc_id: poc for poc in pocs}
    ordered = ordered_pocs(pocs)

    _cover(pdf, text, summary, options)
    progress(0.05)
    _summary_page(pdf, text, summary)
    progress(0.15)

    group_rows = sum(bucket.count for group in summary.groups for bucket in group.buckets)
    total_rows = max(1, group_rows + len(ordered))
    drawn = 0

    def row_drawn() -> None:
        nonlocal drawn
        drawn += 1
        if drawn % 50 == 0:
            progress(0.15 + 0.75 * drawn / total_rows)

    no_pocs = text(N_("No POCs in this period."))
    for group in summary.groups:
        _new_section(pdf, fresh_page=bool(ordered))
        pdf.start_section(text.group_title(group.field))
        _heading(pdf, text.group_title(group.field))
        if not group.buckets:
            empty_panel(pdf, pdf.l_margin, pdf.get_y(), pdf.content_width, 16, no_pocs)
            pdf.set_y(pdf.get_y() + 20)
            continue
        _bucket_overview(pdf, text, group.field, [(b.label, b.count) for b in group.buckets], len(ordered))
        for bucket in group.buckets:
            name = text.label(group.field, bucket.label)
            _ensure_room(pdf, 24)
            pdf.start_section(fit_text(pdf, name, 120), level=1)
            _subheading(pdf, name, f" · {text.poc_count(bucket.count)}")
            members = [by_id[poc_id] for poc_id in bucket.poc_ids if poc_id in by_id]
            _poc_table(pdf, text, members, row_drawn, max_lines=1)
            pdf.ln(4)

    _new_section(pdf, fresh_page=bool(summary.groups and ordered))
    pdf.start_section(text(N_("All POCs")))
    _heading(pdf, text(N_("All POCs")))
    if ordered:
        _poc_table(pdf, text, ordered, row_drawn)
    else:
        empty_panel(pdf, pdf.l_margin, pdf.get_y(), pdf.content_width, 16, no_pocs)
    progress(0.92)
    data = bytes(pdf.output())
    progress(1.0)
    return data, pdf.pages_count


def _metadata(pdf: FPDF, text: ReportText, summary: ReportSummary, options: ReportOptions) -> None:
    pdf.set_title(clean_text(options.title))
    pdf.set_author(clean_text(options.owner_name))
    pdf.set_subject(text(N_("POC report")) + " · " + text.period())
    pdf.set_keywords(", ".join(tally.label or "" for tally in summary.top_tags))
    pdf.set_creator(PRODUCT_NAME)
    pdf.set_lang(text.language_tag)
    pdf.set_creation_date(options.generated_at)


def _heading(pdf: FPDF, title: str) -> None:
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*INK)
    pdf.set_x(pdf.l_margin)
    pdf.cell(0, 9, fit_text(pdf, title, pdf.epw), new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + 24, pdf.get_y())
    pdf.ln(5)


def _subheading(pdf: FPDF, title: str, suffix: str = "") -> None:
    """`title` cut to leave room for `suffix` (a count), which is always printed whole."""
    pdf.set_font(FONT, "B", 11)
    pdf.set_text_color(*INK)
    pdf.set_x(pdf.l_margin)
    fitted = fit_text(pdf, title, pdf.epw - text_width(pdf, suffix) - 1)
    pdf.cell(0, 7, fitted + suffix, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _new_section(pdf: FPDF, *, fresh_page: bool) -> None:
    """A section with tables starts a page; a short one follows on the same page when it fits."""
    if fresh_page or pdf.will_page_break(60):
        pdf.add_page()
    else:
        pdf.ln(6)


def _ensure_room(pdf: FPDF, height: float) -> None:
    if pdf.will_page_break(height):
        pdf.add_page()


def _cover(pdf: ReportPdf, text: ReportText, summary: ReportSummary, options: ReportOptions) -> None:
    pdf.add_page()
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, pdf.w, 42, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, "B", 14)
    pdf.text(MARGIN, 20, PRODUCT_NAME)
    pdf.set_font(FONT, "", 11)
    pdf.text(MARGIN, 28, text(N_("POC report")))

    pdf.set_xy(MARGIN, 58)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 24)
    for line in wrap_text(pdf, clean_text(options.title), pdf.content_width, 3):
        pdf.cell(0, 11, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    facts = [
        (text(N_("Period")), text.period()),
        (text(N_("Owner")), clean_text(text.owner())),
        (text(N_("Generated")), text.generated_moment()),
    ]
    if filters := text.tag_filters():
        facts.append((text(N_("Tag filters")), clean_text(filters)))
    if options.group_by:
        facts.append((text(N_("Grouped by")), ", ".join(text.group_column(f) for f in options.group_by)))
    for label, value in facts:
        pdf.set_font(FONT, "B", 10)
        pdf.set_text_color(*MUTED)
        pdf.cell(38, 7, label)
        pdf.set_font(FONT, "", 10)
        pdf.set_text_color(*INK)
        lines = wrap_text(pdf, value, pdf.content_width - 38, 3)
        for index, line in enumerate(lines):
            if index:
                pdf.set_x(MARGIN + 38)
            pdf.cell(0, 7 if index == 0 else 5.5, line, new_x="LMARGIN", new_y="NEXT")

    pdf.ln(12)
    top = pdf.get_y()
    pdf.set_fill_color(*PANEL)
    pdf.set_draw_color(*GRID)
    pdf.rect(MARGIN, top, pdf.content_width, 34, style="DF")
    pdf.set_text_color(*ACCENT)
    pdf.set_font(FONT, "B", 30)
    pdf.text(MARGIN + 8, top + 17, text.number(summary.poc_count))
    pdf.set_font(FONT, "", 11)
    pdf.set_text_color(*INK)
    if summary.poc_count:
        line = translate_plural(
            text.locale,
            "POC in {languages}, with {tags}",
            "POCs in {languages}, with {tags}",
            summary.poc_count,
            languages=translate_plural(
                text.locale,
                "{amount} language",
                "{amount} languages",
                summary.language_count,
                amount=text.number(summary.language_count),
            ),
            tags=translate_plural(
                text.locale,
                "{amount} distinct tag",
                "{amount} distinct tags",
                summary.tag_count,
                amount=text.number(summary.tag_count),
            ),
        )
    else:
        line = text(N_("No POCs in this period."))
    pdf.text(MARGIN + 8, top + 27, fit_text(pdf, line, pdf.content_width - 16))
    pdf.set_y(top + 44)
    _highlights(pdf, text, summary)


def _highlights(pdf: ReportPdf, text: ReportText, summary: ReportSummary) -> None:
    """The three facts a reader looks for first, so the cover alone answers "what did I build?"."""
    language = next((tally for tally in summary.languages if tally.key is not None), None)
    busiest = summary.busiest_month
    highlights: list[tuple[str, str]] = []
    if language is not None:
        share = text.percent(language.count, summary.poc_count)
        highlights.append(
            (
                text(N_("Most used language")),
                f"{text.language(language.label)} · {text.poc_count(language.count)} ({share})",
            )
        )
    if busiest is not None:
        highlights.append(
            (text(N_("Busiest month")), f"{text.month(busiest.month)} · {text.poc_count(busiest.count)}")
        )
    if summary.top_tags:
        highlights.append(
            (text(N_("Top tags")), ", ".join(clean_text(t.label or "") for t in summary.top_tags[:5]))
        )
    if not highlights:
        return
    pdf.set_font(FONT, "B", 12)
    pdf.set_text_color(*INK)
    pdf.cell(0, 8, text(N_("Highlights")), new_x="LMARGIN", new_y="NEXT")
    for label, value in highlights:
        pdf.set_fill_color(*ACCENT)
        pdf.rect(MARGIN, pdf.get_y() + 2.4, 1.6, 1.6, style="F")
        pdf.set_x(MARGIN + 4)
        pdf.set_font(FONT, "B", 10)
        pdf.set_text_color(*MUTED)
        pdf.cell(54, 6.5, fit_text(pdf, label, 52))
        pdf.set_font(FONT, "", 10)
        pdf.set_text_color(*INK)
        pdf.cell(0, 6.5, fit_text(pdf, value, pdf.content_width - 58), new_x="LMARGIN", new_y="NEXT")


def _summary_page(pdf: ReportPdf, text: ReportText, summary: ReportSummary) -> None:
    pdf.add_page()
    pdf.start_section(text(N_("Summary")))
    _heading(pdf, text(N_("Summary")))
    _figure_cards(pdf, text, summary)
    if summary.top_tags:
        pdf.set_font(FONT, "B", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 6, text(N_("Top tags")), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*INK)
        listed = " · ".join(f"{clean_text(t.label or '')} ({text.number(t.count)})" for t in summary.top_tags)
        for line in wrap_text(pdf, listed, pdf.content_width, 3):
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    elif not summary.poc_count:
        empty_panel(pdf, MARGIN, pdf.get_y(), pdf.content_width, 16, text(N_("No POCs in this period.")))
        pdf.set_y(pdf.get_y() + 22)

    width = pdf.content_width
    language_bars = _language_bars(text, summary.languages)
    _ensure_room(pdf, horizontal_bars_height(len(language_bars)))
    height = draw_horizontal_bars(
        pdf,
        x=MARGIN,
        y=pdf.get_y(),
        width=width,
        title=text(N_("POCs per language")),
        bars=language_bars,
        value_text=text.number,
        empty_text=text(N_("No data")),
    )
    pdf.set_y(pdf.get_y() + height + 2)

    columns, per_year = _month_columns(text, summary)
    _ensure_room(pdf, 70)
    height = draw_columns(
        pdf,
        x=MARGIN,
        y=pdf.get_y(),
        width=width,
        height=66,
        title=text(N_("POCs per year")) if per_year else text(N_("POCs per month")),
        columns=columns,
        value_text=text.number,
        empty_text=text(N_("No data")),
    )
    pdf.set_y(pdf.get_y() + height + 4)

    tag_bars = [Bar(clean_text(tally.label or ""), tally.count) for tally in summary.top_tags]
    _ensure_room(pdf, horizontal_bars_height(len(tag_bars)))
    height = draw_horizontal_bars(
        pdf,
        x=MARGIN,
        y=pdf.get_y(),
        width=width,
        title=text(N_("Top tags")),
        bars=tag_bars,
        value_text=text.number,
        empty_text=text(N_("No data")),
    )
    pdf.set_y(pdf.get_y() + height)


def _figure_cards(pdf: ReportPdf, text: ReportText, summary: ReportSummary) -> None:
    busiest = summary.busiest_month
    dash = "—"
    cards = [
        (text(N_("POCs")), text.number(summary.poc_count), None),
        (
            text(N_("Public")),
            text.number(summary.public_count),
            text.percent(summary.public_count, summary.poc_count),
        ),
        (
            text(N_("Private")),
            text.number(summary.private_count),
            text.percent(summary.private_count, summary.poc_count),
        ),
        (text(N_("Languages")), text.number(summary.language_count), None),
        (
            text(N_("Busiest month")),
            text.month(busiest.month) if busiest else dash,
            text.poc_count(busiest.count) if busiest else None,
        ),
        (text(N_("Distinct tags")), text.number(summary.tag_count), None),
        (text(N_("First POC")), _date_or_dash(text, summary.first_created_at), None),
        (text(N_("Latest POC")), _date_or_dash(text, summary.last_created_at), None),
    ]
    columns, gap, card_height = 4, 3.0, 21.0
    card_width = (pdf.content_width - gap * (columns - 1)) / columns
    top = pdf.get_y()
    for index, (label, value, note) in enumerate(cards):
        x = MARGIN + (index % columns) * (card_width + gap)
        y = top + (index // columns) * (card_height + gap)
        pdf.set_fill_color(*PANEL)
        pdf.set_draw_color(*GRID)
        pdf.set_line_width(0.2)
        pdf.rect(x, y, card_width, card_height, style="DF")
        pdf.set_font(FONT, "", 7.5)
        pdf.set_text_color(*MUTED)
        pdf.text(x + 3, y + 5.5, fit_text(pdf, label, card_width - 6))
        pdf.set_font(FONT, "B", 13 if len(value) < 12 else 10)
        pdf.set_text_color(*INK)
        pdf.text(x + 3, y + 13, fit_text(pdf, value, card_width - 6))
        if note:
            pdf.set_font(FONT, "", 7.5)
            pdf.set_text_color(*MUTED)
            pdf.text(x + 3, y + 18, fit_text(pdf, note, card_width - 6))
    rows = (len(cards) + columns - 1) // columns
    pdf.set_y(top + rows * (card_height + gap) + 3)


def _date_or_dash(text: ReportText, moment: datetime | None) -> str:
    return text.short_date(moment) if moment else "—"


def _language_bars(text: ReportText, languages: Sequence[Tally]) -> list[Bar]:
    """The most used languages, the rest summed in one bar, so the chart fits its half page."""
    bars = [Bar(clean_text(text.language(tally.label)), tally.count) for tally in languages]
    if len(bars) <= MAX_LANGUAGE_BARS:
        return bars
    kept = bars[: MAX_LANGUAGE_BARS - 1]
    rest = bars[MAX_LANGUAGE_BARS - 1 :]
    others = text(N_("{count} other languages"), count=text.number(len(rest)))
    return [*kept, Bar(others, sum(bar.value for bar in rest))]


def _month_columns(text: ReportText, summary: ReportSummary) -> tuple[list[Column], bool]:
    """Columns per month (a year label on each January), or per year for very long periods."""
    busiest = summary.busiest_month.month if summary.busiest_month else None
    months = summary.months
    if len(months) > MAX_MONTH_COLUMNS:
        per_year: dict[str, int] = {}
        for tally in months:
            per_year[tally.month[:4]] = per_year.get(tally.month[:4], 0) + tally.count
        return [Column(value=count, label=year) for year, count in per_year.items()], True
    columns = [
        Column(
            value=tally.count,
            label=text.month_abbreviation(tally.month),
            group=tally.month[:4] if index == 0 or tally.month.endswith("-01") else None,
            highlight=tally.month == busiest,
        )
        for index, tally in enumerate(months)
    ]
    return columns, False


def _bucket_overview(
    pdf: ReportPdf, text: ReportText, field: str, buckets: Sequence[tuple[str | None, int]], total: int
) -> None:
    """One line per value of the group: name, POCs and share, before the lists."""
    widths = (pdf.content_width - 60, 30.0, 30.0)
    titles = (text.group_column(field), text(N_("POCs")), text(N_("Share")))
    pdf.set_font(FONT, "B", 8.5)
    pdf.set_fill_color(*PANEL)
    pdf.set_draw_color(*GRID)
    pdf.set_line_width(0.3)
    pdf.set_text_color(*INK)
    for width, title in zip(widths, titles, strict=True):
        pdf.cell(width, 6, title, border="B", fill=True, align="L" if width == widths[0] else "R")
    pdf.ln(6)
    pdf.set_font(FONT, "", 8.5)
    for label, count in buckets:
        if pdf.will_page_break(5):
            pdf.add_page()
            pdf.set_font(FONT, "", 8.5)
        name = fit_text(pdf, clean_text(text.label(field, label)), widths[0] - 2)
        pdf.cell(widths[0], 5, name)
        pdf.cell(widths[1], 5, text.number(count), align="R")
        pdf.cell(widths[2], 5, text.percent(count, total), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)


_LINE_HEIGHT = 3.9
_PADDING = 1.3
_HEADER_HEIGHT = 6.5
_TABLE_FONT_SIZE = 7.8


def _table_columns(pdf: ReportPdf, text: ReportText) -> list[_TableColumn]:
    width = pdf.content_width
    return [
        _TableColumn(text(N_("Name")), width * 0.36),
        _TableColumn(text(N_("Language")), width * 0.15),
        _TableColumn(text(N_("Tags")), width * 0.33),
        _TableColumn(text(N_("Created")), width * 0.16),
    ]


def _table_header(pdf: ReportPdf, columns: Sequence[_TableColumn]) -> None:
    pdf.set_font(FONT, "B", _TABLE_FONT_SIZE)
    pdf.set_fill_color(*ACCENT)
    pdf.set_text_color(255, 255, 255)
    top = pdf.get_y()
    pdf.rect(pdf.l_margin, top, pdf.content_width, _HEADER_HEIGHT, style="F")
    x = pdf.l_margin
    for column in columns:
        pdf.text(
            x + _PADDING,
            top + _HEADER_HEIGHT / 2 + 1.3,
            fit_text(pdf, column.title, column.width - 2 * _PADDING),
        )
        x += column.width
    pdf.set_y(top + _HEADER_HEIGHT)


def _poc_table(
    pdf: ReportPdf,
    text: ReportText,
    pocs: Sequence[ReportPoc],
    row_drawn: Callable[[], None],
    *,
    max_lines: int = 2,
) -> None:
    """Rows of name (linked), language, tags and date; the header row starts every page.

    The full list wraps names and tags to `max_lines`; the lists of a group use one line, as a
    POC with five tags appears in five of them and its full row is in the list of all POCs.
    """
    columns = _table_columns(pdf, text)
    name_col, language_col, tags_col = columns[:3]
    _table_header(pdf, columns)
    pdf.set_font(FONT, "", _TABLE_FONT_SIZE)
    for index, poc in enumerate(pocs):
        name_lines = wrap_text(pdf, clean_text(poc.name), name_col.width - 2 * _PADDING, max_lines)
        tags = ", ".join(clean_text(tag) for tag in poc.tags) or "—"
        tag_lines = wrap_text(pdf, tags, tags_col.width - 2 * _PADDING, max_lines)
        row_height = max(len(name_lines), len(tag_lines)) * _LINE_HEIGHT + 2 * _PADDING
        if pdf.get_y() + row_height > pdf.page_break_trigger:
            pdf.add_page()
            _table_header(pdf, columns)
            pdf.set_font(FONT, "", _TABLE_FONT_SIZE)
        top = pdf.get_y()
        if index % 2:
            pdf.set_fill_color(*PANEL)
            pdf.rect(pdf.l_margin, top, pdf.content_width, row_height, style="F")
        first_baseline = top + _PADDING + _LINE_HEIGHT - 1.0
        x = pdf.l_margin + _PADDING
        link = is_web_link(poc.repository_url)
        pdf.set_text_color(*(ACCENT if link else INK))
        for line_index, line in enumerate(name_lines):
            pdf.text(x, first_baseline + line_index * _LINE_HEIGHT, line)
        if link:
            pdf.link(pdf.l_margin, top, name_col.width, row_height, poc.repository_url)
        pdf.set_text_color(*INK)
        x += name_col.width
        language = fit_text(pdf, clean_text(text.language(poc.language)), language_col.width - 2 * _PADDING)
        pdf.text(x, first_baseline, language)
        x += language_col.width
        for line_index, line in enumerate(tag_lines):
            pdf.text(x, first_baseline + line_index * _LINE_HEIGHT, line)
        x += tags_col.width
        pdf.text(x, first_baseline, text.short_date(poc_created_at(poc)))
        pdf.set_y(top + row_height)
        row_drawn()
    pdf.set_draw_color(*GRID)
    pdf.set_line_width(0.2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.content_width, pdf.get_y())
