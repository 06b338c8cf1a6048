"""The one entry point of the render activity, and the catalog its words come from."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from api.common.i18n import translate
from api.content.reports import LOCALE_DIR
from api.content.reports.aggregate import decode_pocs, decode_summary, encode_pocs, encode_summary, summarise
from api.content.reports.charts import nice_axis
from api.content.reports.render import MEDIA_TYPES, render_report
from tests.unit.content.report_samples import options, sample_pocs

pytestmark = pytest.mark.unit

SIGNATURES = {"pdf": b"%PDF-", "xlsx": b"PK\x03\x04", "csv": None}


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
@pytest.mark.parametrize("format", ["pdf", "xlsx", "csv"])
def test_every_format_renders_from_a_stored_summary_with_rising_progress(format: str, locale: str) -> None:
    pocs = sample_pocs(60)
    report = options(format, locale, group_by=("month", "framework"))
    stored_pocs = decode_pocs(encode_pocs(pocs))
    stored_summary = decode_summary(encode_summary(summarise(pocs, report)))
    seen: list[float] = []

    rendered = render_report(stored_pocs, stored_summary, report, progress=seen.append)

    assert (rendered.media_type, rendered.extension) == MEDIA_TYPES[format]
    signature = SIGNATURES[format]
    if signature is not None:
        assert rendered.data.startswith(signature)
    else:
        assert b"Programa\xc3\xa7\xc3\xa3o funcional em produ\xc3\xa7\xc3\xa3o #1" in rendered.data
    assert (rendered.page_count is not None) == (format == "pdf")
    assert seen[0] == 0.0
    assert seen[-1] == 1.0
    assert all(0.0 <= value <= 1.0 for value in seen)
    assert seen == sorted(seen)


def test_the_catalog_is_registered_and_every_pt_br_entry_translated() -> None:
    with (LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale="pt_BR")
    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (not message.string or (isinstance(message.string, tuple) and not all(message.string)))
    ]

    assert untranslated == []
    assert translate("pt_BR", "Page {page} of {pages}", page=3, pages=12) == "Página 3 de 12"
    assert translate("en", "Page {page} of {pages}", page=3, pages=12) == "Page 3 of 12"


def test_the_template_lists_every_msgid_of_the_translations() -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as pot_file:
        template = {message.id for message in read_po(pot_file) if message.id}
    for locale in ("pt_BR", "en"):
        with Path(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
            translated = {message.id for message in read_po(po_file) if message.id}
        assert translated == template


@pytest.mark.parametrize(
    ("maximum", "axis_end", "step"),
    [
        (0, 1, 1),
        (1, 1, 1),
        (3, 3, 1),
        (7, 8, 2),
        (13, 15, 5),
        (42, 50, 10),
        (223, 250, 50),
        (1000, 1000, 200),
    ],
)
def test_axes_end_on_round_numbers(maximum: int, axis_end: int, step: int) -> None:
    assert nice_axis(maximum) == (axis_end, step)
