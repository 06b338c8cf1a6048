"""The CSV report, parsed back in each locale's dialect, its values checked against the POCs."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pytest

from api.content.reports.aggregate import summarise
from api.content.reports.csv_export import neutralise_formula
from api.content.reports.model import ReportOptions
from api.content.reports.render import RenderedReport, render_report
from tests.unit.content.report_samples import GENERATED_AT, local, options, sample_pocs
from workflows.report_generation_types import ReportPoc

pytestmark = pytest.mark.unit

BOM = "\ufeff".encode()


def _render(pocs: Sequence[ReportPoc], report: ReportOptions) -> RenderedReport:
    return render_report(pocs, summarise(pocs, report), report)


def _rows(data: bytes, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def test_pt_br_uses_semicolons_brazilian_dates_decimal_commas_and_a_bom() -> None:
    pocs = sample_pocs(42)
    rendered = _render(pocs, options("csv", "pt_BR"))
    rows = _rows(rendered.data, ";")

    assert rendered.data.startswith(BOM)
    assert rendered.media_type == "text/csv; charset=utf-8"
    assert rendered.extension == "csv"
    assert rows[0] == [
        "Nome",
        "Descrição",
        "Linguagem",
        "Frameworks",
        "Tags",
        "Pública",
        "Data de criação",
        "Hora",
        "Idade (anos)",
        "Repositório",
        "ID",
    ]
    assert len(rows) == 43
    by_id = {row[10]: row for row in rows[1:]}
    for poc in pocs:
        row = by_id[poc.poc_id]
        created = local(poc)
        assert row[0] == poc.name
        assert row[1] == poc.description
        assert row[3] == " | ".join(poc.frameworks)
        assert row[4] == " | ".join(poc.tags)
        assert row[5] == ("Sim" if poc.is_public else "Não")
        assert row[6] == created.strftime("%d/%m/%Y")
        assert row[7] == created.strftime("%H:%M")
        assert "," in row[8]
        assert "." not in row[8]
        age = float(row[8].replace(",", "."))
        assert age == pytest.approx((GENERATED_AT - created).days / 365.25, abs=0.01)
        assert row[9] == poc.repository_url
    assert by_id[pocs[7].poc_id][2] == "", "a POC without a language has an empty cell"
    assert by_id[pocs[9].poc_id][2] == "Outra linguagem"


def test_en_uses_commas_iso_dates_decimal_points_and_no_bom() -> None:
    pocs = sample_pocs(42)
    rendered = _render(pocs, options("csv", "en"))
    rows = _rows(rendered.data, ",")

    assert not rendered.data.startswith(BOM)
    assert rows[0][:3] == ["Name", "Description", "Language"]
    by_id = {row[10]: row for row in rows[1:]}
    for poc in pocs:
        row = by_id[poc.poc_id]
        assert row[0] == poc.name
        assert row[1] == poc.description, "commas, semicolons and quotes stay inside their cell"
        assert row[5] == ("Yes" if poc.is_public else "No")
        assert row[6] == local(poc).date().isoformat()
        assert "." in row[8]
        assert "," not in row[8]


def test_rows_are_oldest_first() -> None:
    pocs = sample_pocs(20)
    rows = _rows(_render(pocs, options("csv", "en")).data, ",")[1:]

    assert [row[10] for row in rows] == [poc.poc_id for poc in sorted(pocs, key=local)]


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_cells_that_a_spreadsheet_would_run_are_neutralised(locale: str) -> None:
    pocs = sample_pocs(4)
    pocs[0].name = '=HYPERLINK("https://evil.example";"clique")'
    pocs[1].name = "+55 11 99999-0000"
    pocs[2].name = "-2+3"
    pocs[3].name = "@SUM(A1:A9)"
    pocs[3].description = "\t=1+1"
    pocs[3].tags = ["=cmd|' /C calc'!A0"]
    delimiter = ";" if locale == "pt_BR" else ","
    rows = _rows(_render(pocs, options("csv", locale)).data, delimiter)[1:]
    names = {row[0] for row in rows}

    assert names == {"'" + poc.name for poc in pocs}
    dangerous = [row[4] for row in rows if row[4].startswith("'=")]
    assert dangerous == ["'=cmd|' /C calc'!A0"]
    assert any(row[1] == "'\t=1+1" for row in rows)


def test_the_guard_leaves_ordinary_text_alone() -> None:
    assert neutralise_formula("Programação funcional") == "Programação funcional"
    assert neutralise_formula("a=b") == "a=b"
    assert neutralise_formula("") == ""
    assert neutralise_formula("=1") == "'=1"


def test_line_breaks_and_quotes_survive_quoting() -> None:
    pocs = sample_pocs(1)
    pocs[0].description = 'Primeira linha; "citação"\nSegunda linha, com vírgula'
    rows = _rows(_render(pocs, options("csv", "pt_BR")).data, ";")

    assert rows[1][1] == pocs[0].description


@pytest.mark.parametrize(("locale", "delimiter"), [("pt_BR", ";"), ("en", ",")])
def test_an_empty_selection_is_just_the_header(locale: str, delimiter: str) -> None:
    rows = _rows(_render([], options("csv", locale)).data, delimiter)

    assert len(rows) == 1
    assert len(rows[0]) == 11
