"""The PDF report, opened the way a reader opens it: text, links, outline, metadata and pixels."""

from __future__ import annotations

import dataclasses
import io
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import pypdfium2  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader
from pypdf.generic import Destination

from api.content.reports.aggregate import summarise
from api.content.reports.model import ReportOptions
from api.content.reports.render import RenderedReport, render_report
from tests.unit.content.report_samples import OWNER, OWNER_EMAIL, TITLE, local, options, sample_pocs
from workflows.report_generation_types import ReportPoc

pytestmark = pytest.mark.unit

WORDS = {
    "pt_BR": {"page": "Página {page} de {pages}", "summary": "Resumo", "empty": "Não há POCs neste período."},
    "en": {"page": "Page {page} of {pages}", "summary": "Summary", "empty": "No POCs in this period."},
}
"""What the tests expect to read, per locale (the catalog is what they check)."""


def _render(pocs: Sequence[ReportPoc], report: ReportOptions) -> tuple[RenderedReport, PdfReader]:
    rendered = render_report(pocs, summarise(pocs, report), report)
    return rendered, PdfReader(io.BytesIO(rendered.data))


def _text(reader: PdfReader) -> list[str]:
    """Each page's text with spacing normalised (Babel's narrow no-break spaces included)."""
    return [" ".join(page.extract_text().split()) for page in reader.pages]


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_the_pdf_reads_back_the_pocs_and_figures(locale: str) -> None:
    pocs = sample_pocs(42)
    rendered, reader = _render(pocs, options("pdf", locale))
    pages = _text(reader)
    everything = "\n".join(pages)

    assert rendered.media_type == "application/pdf"
    assert rendered.extension == "pdf"
    assert rendered.page_count == len(reader.pages) >= 3
    assert "Retrospectiva de POCs —" in pages[0]
    assert "Programação & Dados" in pages[0]
    assert f"{OWNER} <{OWNER_EMAIL}>" in pages[0]
    assert "42" in pages[0]
    for number, page in enumerate(pages, start=1):
        assert WORDS[locale]["page"].format(page=number, pages=len(pages)) in page
    assert WORDS[locale]["summary"] in pages[1]
    for poc in pocs:
        assert poc.name in everything
    assert "Programação funcional em produção #1" in everything
    assert "Integração contínua" in everything
    assert "Python 13" in pages[1], "the language chart prints the bar's value"


def test_dates_and_numbers_follow_the_locale() -> None:
    pocs = sample_pocs(42)
    first = min(local(poc) for poc in pocs)
    _, portuguese = _render(pocs, options("pdf", "pt_BR"))
    _, english = _render(pocs, options("pdf", "en"))

    assert first.strftime("%d/%m/%Y") in _text(portuguese)[1]
    assert f"{first.month}/{first.day}/{first.year}" in _text(english)[1]
    assert "33,3%" in _text(portuguese)[1]
    assert "33.3%" in _text(english)[1]


def test_a_thousand_pocs_repeat_the_table_header_on_every_page() -> None:
    pocs = sample_pocs(400)
    _, reader = _render(pocs, options("pdf", "pt_BR"))
    pages = _text(reader)
    table_pages = [page for page in pages if "Programação funcional em produção" in page]

    assert len(table_pages) >= 8
    assert all("Nome Linguagem Tags Criada em" in page for page in table_pages)
    assert "Mr Bill" in pages[-1], "the header prints on every page after the cover"


def test_names_link_to_their_repositories_and_unsafe_links_are_left_out() -> None:
    pocs = sample_pocs(5)
    pocs[0].repository_url = "javascript:alert(1)"
    _, reader = _render(pocs, options("pdf", "en"))
    links = {
        annotation.get_object()["/A"]["/URI"]
        for page in reader.pages
        for annotation in page.get("/Annots", [])
        if annotation.get_object().get("/Subtype") == "/Link"
        and "/URI" in annotation.get_object().get("/A", {})
    }

    assert links == {poc.repository_url for poc in pocs[1:]}


def test_metadata_names_the_title_owner_language_and_date() -> None:
    _, reader = _render(sample_pocs(10), options("pdf", "pt_BR"))
    metadata = reader.metadata

    assert metadata is not None
    assert metadata.title == TITLE
    assert metadata.author == OWNER
    assert metadata.creator == "Mr Bill"
    assert metadata.creation_date == datetime(2026, 1, 10, 15, 30, tzinfo=UTC)
    assert str(reader.root_object["/Lang"]) == "pt-BR"


def test_group_sections_appear_in_the_text_and_the_outline() -> None:
    pocs = sample_pocs(42)
    _, reader = _render(pocs, options("pdf", "pt_BR", group_by=("language", "tag")))
    everything = "\n".join(_text(reader))
    top_level = [entry.title for entry in reader.outline if isinstance(entry, Destination)]
    nested = [
        entry.title
        for group in reader.outline
        if isinstance(group, list)
        for entry in group
        if isinstance(entry, Destination)
    ]

    assert top_level == ["Resumo", "POCs por linguagem", "POCs por tag", "Todas as POCs"]
    assert "Python" in nested
    assert "Sem linguagem" in nested
    assert "Sem tags" in nested
    assert "Programação funcional · 12 POCs" in everything
    assert "Python · 13 POCs" in everything


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_an_empty_selection_is_a_readable_report(locale: str) -> None:
    report = options(
        "pdf",
        locale,
        group_by=("language", "month"),
        period_from=datetime(2025, 1, 1, 3, tzinfo=UTC),
        period_to=datetime(2025, 7, 1, 3, tzinfo=UTC),
    )
    rendered, reader = _render([], report)
    everything = "\n".join(_text(reader))

    assert WORDS[locale]["empty"] in everything
    assert WORDS[locale]["page"].format(page=1, pages=rendered.page_count) in everything
    assert ("30 de jun. de 2025" if locale == "pt_BR" else "Jun 30, 2025") in everything


def test_one_poc_with_very_long_labels_and_any_script_renders() -> None:
    long_name = "Sistema distribuído de orquestração " * 12
    poc = ReportPoc(
        poc_id="only",
        name=long_name.strip() + " Łódź Ωμέγα Привет 🚀",
        repository_url="https://github.com/exemplo/" + "x" * 300,
        created_at="2025-03-01T01:00:00Z",
        description="\x00controle\x07",
        language="Linguagem-com-um-nome-extraordinariamente-longo-para-caber-no-rótulo",
        tags=["uma tag muito, muito longa que não cabe em uma linha da tabela nem do gráfico" * 2, "curta"],
        frameworks=["Framework " * 20],
    )
    rendered, reader = _render(
        [poc], options("pdf", "pt_BR", group_by=("language", "tag", "framework", "month"))
    )
    everything = "\n".join(_text(reader))

    assert rendered.page_count == len(reader.pages)
    assert "Sistema distribuído de orquestração" in everything
    assert "…" in everything, "what does not fit is cut with an ellipsis"
    assert "fev. de 2025" in everything, "2025-03-01T01:00Z is February in São Paulo"


def test_a_rendered_summary_page_is_not_blank() -> None:
    rendered = render_report(sample_pocs(120), summarise(sample_pocs(120), options()), options())
    document = pypdfium2.PdfDocument(rendered.data)
    try:
        image = document[1].render(scale=1.0).to_pil().convert("L")
    finally:
        document.close()
    histogram = image.histogram()
    total = sum(histogram)
    not_white = sum(histogram[:235]) / total
    mid_tones = sum(histogram[40:200]) / total
    mean = sum(level * count for level, count in enumerate(histogram)) / total
    deviation = math.sqrt(sum(count * (level - mean) ** 2 for level, count in enumerate(histogram)) / total)

    assert image.size[0] > 500
    assert not_white > 0.05, "charts and figures cover part of the page"
    assert mid_tones > 0.02, "coloured bars are neither white nor black"
    assert deviation > 20


def test_progress_rises_to_one() -> None:
    pocs = sample_pocs(300)
    report = options(group_by=("tag",))
    seen: list[float] = []

    render_report(pocs, summarise(pocs, report), report, progress=seen.append)

    assert seen[0] == 0.0
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert len(seen) > 5, "a long table reports progress while it is drawn"


def test_the_same_inputs_give_the_same_text() -> None:
    pocs = sample_pocs(30)
    report = options("pdf", "en", group_by=("month",))
    _, first = _render(pocs, report)
    _, second = _render(list(reversed(pocs)), report)

    assert _text(first) == _text(second)
    assert re.search(r"Page 1 of \d+", _text(first)[0])


TAG_FILTER_WORDS = {
    "pt_BR": ("Filtros de tags", "Com qualquer uma das tags: {tags}", "Sem as tags: {tags}"),
    "en": ("Tag filters", "With any of the tags: {tags}", "Without the tags: {tags}"),
}


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_the_cover_names_the_tag_filters_of_the_request(locale: str) -> None:
    report = dataclasses.replace(
        options("pdf", locale),
        include_tags=("api", "programacao funcional"),
        exclude_tags=("legado",),
    )
    _rendered, reader = _render(sample_pocs(14), report)
    cover = _text(reader)[0]
    label, included, excluded = TAG_FILTER_WORDS[locale]

    assert label in cover
    assert included.format(tags="api, programacao funcional") in cover
    assert excluded.format(tags="legado") in cover
    assert cover.index(label) < cover.index(included.split(":")[0])


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_only_the_filters_given_appear_on_the_cover(locale: str) -> None:
    label, included, excluded = TAG_FILTER_WORDS[locale]
    only_excluded = dataclasses.replace(options("pdf", locale), exclude_tags=("legado", "rascunho"))
    unfiltered = options("pdf", locale)

    excluding_cover = _text(_render(sample_pocs(5), only_excluded)[1])[0]
    unfiltered_cover = _text(_render(sample_pocs(5), unfiltered)[1])[0]

    assert excluded.format(tags="legado, rascunho") in excluding_cover
    assert included.split(":")[0] not in excluding_cover
    assert label not in unfiltered_cover
    assert excluded.split(":")[0] not in unfiltered_cover


def test_many_tag_filters_stay_on_the_cover() -> None:
    tags = tuple(f"tag-numero-{number:02d}" for number in range(1, 31))
    report = dataclasses.replace(options("pdf", "pt_BR"), include_tags=tags)
    _rendered, reader = _render(sample_pocs(14), report)
    pages = _text(reader)

    assert "Com qualquer uma das tags: tag-numero-01, tag-numero-02" in pages[0]
    assert "…" in pages[0], "a list longer than three lines is cut with an ellipsis"
    assert "tag-numero-30" not in pages[0]
    assert WORDS["pt_BR"]["summary"] in pages[1], "the cover still fits on its page"
