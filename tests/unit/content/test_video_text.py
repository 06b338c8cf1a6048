"""The video's words: every msgid translated to pt-BR, dates and numbers from the locale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po

from api.content.video import LOCALE_DIR
from api.content.video.text import TIER_NAMES, VideoText
from tests.unit.content.video_samples import options

pytestmark = pytest.mark.unit


def test_every_msgid_of_the_template_has_a_portuguese_translation() -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as template_file:
        template = read_po(template_file)
    with (LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as catalog_file:
        catalog = read_po(catalog_file, locale="pt_BR")

    ids = {message.id if isinstance(message.id, str) else message.id[0] for message in template if message.id}
    assert ids
    for message_id in ids:
        translated = catalog.get(message_id)
        assert translated is not None, message_id
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        assert all(strings), message_id


def test_portuguese_words_numbers_and_plurals() -> None:
    text = VideoText(options(locale="pt_BR"))

    assert text.plural("{amount} language", "{amount} languages", 1) == "1 linguagem"
    assert text.plural("{amount} language", "{amount} languages", 1234) == "1.234 linguagens"
    assert text.poc_count(2) == "2 POCs"
    assert text.tier("spark") == "Faísca"
    assert text.month_name("2025-03") == "Março"
    assert text.weekday(1) == "Terça-feira"
    assert text.hour(22) == "22:00"
    assert text.period() == "2025"
    assert text.date(datetime(2025, 3, 1, 15, tzinfo=UTC)) == "1 de mar. de 2025"


def test_english_words_numbers_and_plurals() -> None:
    text = VideoText(options(locale="en"))

    assert text.plural("{amount} language", "{amount} languages", 1234) == "1,234 languages"
    assert text.tier("supernova") == "Supernova"
    assert text.month_name("2025-03") == "March"
    assert text.weekday(1) == "Tuesday"
    assert text.hour(22) == "10:00\u202fPM" or text.hour(22) == "10:00 PM"
    assert text.hour_label(18) in {"6\u202fPM", "6 PM"}


def test_every_tier_has_a_translated_name() -> None:
    portuguese = VideoText(options(locale="pt_BR"))
    english = VideoText(options(locale="en"))

    names = {portuguese.tier(tier) for tier in TIER_NAMES}
    assert len(names) == len(TIER_NAMES)
    assert {portuguese.tier(tier) for tier in TIER_NAMES} != {english.tier(tier) for tier in TIER_NAMES}


def test_weeks_start_where_the_locales_calendars_start_them() -> None:
    assert VideoText(options(locale="pt_BR")).weekday_order() == [6, 0, 1, 2, 3, 4, 5]
    english = VideoText(options(locale="en")).weekday_order()
    assert sorted(english) == list(range(7))


def test_a_period_that_is_not_a_year_names_its_months() -> None:
    text = VideoText(
        options(
            year=None,
            period_from=datetime(2025, 3, 1, 3, tzinfo=UTC),
            period_to=datetime(2025, 9, 1, 3, tzinfo=UTC),
        )
    )

    assert text.period() == "mar. de 2025 \u2013 ago. de 2025"
    assert text.month_name("2025-03") == "Março de 2025"


def test_the_title_and_name_print_composed_without_control_characters() -> None:
    text = VideoText(
        options(title="Retrospectiva\x07  de\nPOCs", owner_name="Conceic\u0327a\u0303o Arau\u0301jo")
    )

    assert text.title() == "Retrospectiva de POCs"
    assert text.owner() == "Conceição Araújo"
