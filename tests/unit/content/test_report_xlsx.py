"""The Excel report, read back with openpyxl and from the package's own XML parts."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from api.content.reports.aggregate import summarise
from api.content.reports.model import ReportOptions
from api.content.reports.render import render_report
from tests.unit.content.report_samples import OWNER, TITLE, local, options, sample_pocs
from workflows.report_generation_types import ReportPoc

pytestmark = pytest.mark.unit

SHEETS = {
    "pt_BR": ("Resumo", "POCs", "POCs por linguagem", "POCs por tag"),
    "en": ("Summary", "POCs", "POCs by language", "POCs by tag"),
}
HEADERS = {
    "pt_BR": [
        "Nome",
        "Descrição",
        "Linguagem",
        "Frameworks",
        "Tags",
        "Pública",
        "Criada em",
        "Repositório",
        "ID",
    ],
    "en": ["Name", "Description", "Language", "Frameworks", "Tags", "Public", "Created", "Repository", "ID"],
}


def _render(pocs: Sequence[ReportPoc], report: ReportOptions) -> tuple[bytes, Any]:
    rendered = render_report(pocs, summarise(pocs, report), report)
    assert rendered.media_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert rendered.extension == "xlsx"
    return rendered.data, openpyxl.load_workbook(io.BytesIO(rendered.data))


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_the_data_sheet_holds_one_typed_row_per_poc(locale: str) -> None:
    pocs = sample_pocs(42)
    _, workbook = _render(pocs, options("xlsx", locale, group_by=("language", "tag")))

    assert tuple(workbook.sheetnames) == SHEETS[locale]
    sheet = workbook["POCs"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS[locale]
    assert len(rows) == 43
    by_id = {row[8]: row for row in rows[1:]}
    for poc in pocs:
        row = by_id[poc.poc_id]
        assert row[0] == poc.name
        assert row[4] == ", ".join(poc.tags)
        assert row[5] is poc.is_public
        assert row[6] == local(poc).replace(tzinfo=None, microsecond=0)
        assert row[7] == poc.repository_url
    assert sheet["A2"].hyperlink.target.startswith("https://github.com/exemplo/poc-")
    assert sheet["G2"].is_date
    assert sheet.auto_filter.ref == "A1:I43"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width > 20
    assert sheet.column_dimensions["A"].width <= 62


def test_a_poc_without_language_reads_as_such() -> None:
    pocs = sample_pocs(10)
    _, workbook = _render(pocs, options("xlsx", "pt_BR"))
    languages = {row[8]: row[2] for row in workbook["POCs"].iter_rows(min_row=2, values_only=True)}

    assert languages[pocs[7].poc_id] == "Sem linguagem"
    assert languages[pocs[0].poc_id] == "Python"


def test_the_summary_sheet_has_the_figures_and_native_charts() -> None:
    pocs = sample_pocs(42)
    data, workbook = _render(pocs, options("xlsx", "pt_BR"))
    sheet = workbook["Resumo"]
    figures = {row[0]: row[1] for row in sheet.iter_rows(min_row=1, max_col=2, values_only=True) if row[0]}

    assert sheet["A1"].value == TITLE
    assert figures["POCs"] == 42
    assert figures["Públicas"] == 14
    assert figures["Privadas"] == 28
    assert figures["Responsável"].startswith(OWNER)
    assert isinstance(figures["Gerado em"], datetime)
    assert len(sheet._charts) == 3
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        charts = sorted(name for name in package.namelist() if name.startswith("xl/charts/chart"))
        first_chart = package.read(charts[0]).decode()
    assert len(charts) == 3
    assert "<c:barChart>" in first_chart
    assert "Resumo!$A$" in first_chart, "categories are the summary's cells"
    assert "Resumo!$B$" in first_chart, "values are the summary's cells"


def test_group_sheets_list_each_poc_under_each_of_its_values() -> None:
    pocs = sample_pocs(42)
    report = options("xlsx", "en", group_by=("tag",))
    summary = summarise(pocs, report)
    rendered = render_report(pocs, summary, report)
    sheet = openpyxl.load_workbook(io.BytesIO(rendered.data))["POCs by tag"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    group = summary.group("tag")

    assert group is not None
    assert len(rows) == sum(bucket.count for bucket in group.buckets)
    assert [cell.value for cell in sheet[1]] == ["Tag", "Name", "Language", "Tags", "Created"]
    assert sum(1 for row in rows if row[0] == "Programação funcional") == 12
    assert sum(1 for row in rows if row[0] == "No tags") == 6
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None


def test_workbook_properties_name_the_report() -> None:
    _, workbook = _render(sample_pocs(5), options("xlsx", "en"))

    assert workbook.properties.title == TITLE
    assert workbook.properties.creator == OWNER
    assert workbook.properties.created == datetime(2026, 1, 10, 15, 30)


def test_text_that_looks_like_a_formula_stays_text() -> None:
    pocs = sample_pocs(3)
    pocs[0].name = '=HYPERLINK("https://evil.example","clique")'
    pocs[1].tags = ["+1", "@SUM(A1)"]
    _, workbook = _render(pocs, options("xlsx", "pt_BR"))
    sheet = workbook["POCs"]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]

    assert all(cell.data_type != "f" for cell in cells)
    assert any(cell.value == pocs[0].name for cell in cells)


def test_an_empty_selection_is_a_valid_workbook() -> None:
    report = options(
        "xlsx",
        "pt_BR",
        group_by=("month",),
        period_from=datetime(2025, 1, 1, 3, tzinfo=UTC),
        period_to=datetime(2025, 4, 1, 3, tzinfo=UTC),
    )
    _, workbook = _render([], report)
    summary_values = [cell for row in workbook["Resumo"].iter_rows(values_only=True) for cell in row if cell]

    assert "Não há POCs neste período." in summary_values
    assert workbook["POCs"].max_row == 1
    assert len(workbook["Resumo"]._charts) == 1, "only the months (all zero) have rows to chart"
