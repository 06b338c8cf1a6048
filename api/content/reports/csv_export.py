"""The CSV report: one row per POC, written the way the reader's spreadsheet expects.

Brazilian spreadsheets (Excel and LibreOffice set to pt-BR) use the comma as the decimal
separator, so their list separator is the semicolon: a pt-BR file uses ``;``, ``dd/mm/yyyy``
dates and decimal commas; an English one uses ``,``, ISO 8601 dates and decimal points.

The pt-BR file starts with a UTF-8 byte order mark. Excel opens a CSV without one in the
machine's legacy code page (Windows-1252 in Brazil), which turns "Programação" into
"ProgramaÃ§Ã£o"; the BOM is what makes it read UTF-8. The English file is plain UTF-8, which
every other tool expects and English names rarely need more than ASCII for.

Cells are quoted by the ``csv`` module (separators, quotes and line breaks in descriptions stay
inside their cell), and a text cell that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe, as OWASP
recommends against CSV injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

from api.common.i18n import N_
from api.content.reports.aggregate import ordered_pocs
from api.content.reports.model import ReportOptions, clean_text, poc_created_at
from api.content.reports.text import ReportText
from workflows.report_generation_types import ReportPoc

LIST_SEPARATOR = " | "
"""Between tags (and frameworks) of one cell: neither the comma nor the semicolon of the file."""

_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_DAYS_PER_YEAR = 365.25


def neutralise_formula(value: str) -> str:
    """A text cell that a spreadsheet would evaluate, made inert with a leading apostrophe."""
    return "'" + value if value.startswith(_FORMULA_TRIGGERS) else value


def csv_dialect(locale: str) -> tuple[str, str, str]:
    """(delimiter, date format, text encoding) of a locale's file."""
    if locale == "pt_BR":
        return ";", "%d/%m/%Y", "utf-8-sig"
    return ",", "%Y-%m-%d", "utf-8"


def render_csv(pocs: Sequence[ReportPoc], options: ReportOptions, progress: Callable[[float], None]) -> bytes:
    text = ReportText(options)
    delimiter, date_format, encoding = csv_dialect(options.locale)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(
        [
            text(N_("Name")),
            text(N_("Description")),
            text(N_("Language")),
            text(N_("Frameworks")),
            text(N_("Tags")),
            text(N_("Is public")),
            text(N_("Created on")),
            text(N_("Time")),
            text(N_("Age (years)")),
            text(N_("Repository")),
            text(N_("ID")),
        ]
    )
    ordered = ordered_pocs(pocs)
    for index, poc in enumerate(ordered):
        created = text.local(poc_created_at(poc))
        age_years = max(0.0, (options.generated_at - created).total_seconds() / 86_400 / _DAYS_PER_YEAR)
        writer.writerow(
            [
                _text_cell(poc.name),
                _text_cell(poc.description or ""),
                _text_cell(text.language(poc.language) if poc.language else ""),
                _text_cell(LIST_SEPARATOR.join(poc.frameworks)),
                _text_cell(LIST_SEPARATOR.join(poc.tags)),
                text.yes_no(poc.is_public),
                created.strftime(date_format),
                created.strftime("%H:%M"),
                text.decimal(age_years),
                _text_cell(poc.repository_url),
                _text_cell(poc.poc_id),
            ]
        )
        if index % 200 == 199:
            progress(0.9 * (index + 1) / len(ordered))
    return buffer.getvalue().encode(encoding)


def _text_cell(value: str) -> str:
    return neutralise_formula(clean_text(value))
