"""Locale negotiation, catalogs (compiled or straight from .po) and locale-aware formatting."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from api.common.i18n import (
    COMMON_CATALOG_DIR,
    CatalogRegistry,
    format_datetime,
    format_number,
    language_tag,
    negotiate_locale,
    normalize_locale,
    parse_accept_language,
    translate,
    translate_plural,
)

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("pt", "pt_BR"),
        ("pt-BR", "pt_BR"),
        ("pt_br", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN-gb", "en"),
        ("fr-FR", None),
        ("", None),
        (None, None),
        ("1234", None),
    ],
)
def test_normalize_locale_maps_tags_to_supported_locales(tag: str | None, expected: str | None) -> None:
    assert normalize_locale(tag) == expected


def test_accept_language_is_ordered_by_quality_then_position() -> None:
    header = "fr;q=0.9, en-US;q=0.95, de, pt-BR;q=0.8, *;q=0.5, es;q=0"
    assert parse_accept_language(header) == ["de", "en-US", "fr", "pt-BR"]


def test_accept_language_survives_garbage_quality_values() -> None:
    assert parse_accept_language("en;q=abc, pt;q=2, pt-BR") == ["pt-BR"]


@pytest.mark.parametrize(
    ("accept", "user", "tenant", "expected"),
    [
        ("en-US,en;q=0.9", None, None, "en"),
        ("en-US", "pt-BR", None, "pt_BR"),  # the profile beats the browser
        ("fr-FR, en;q=0.5", None, "pt_BR", "en"),  # first supported language in the header
        ("fr-FR", None, "en", "en"),  # nothing usable in the header: the tenant's default
        (None, None, None, "pt_BR"),  # nothing at all: the platform default
        ("de", "xx", "yy", "pt_BR"),
        ("pt;q=0.4, en;q=0.6", None, None, "en"),
    ],
)
def test_negotiation_order_is_user_then_header_then_tenant_then_default(
    accept: str | None, user: str | None, tenant: str | None, expected: str
) -> None:
    assert negotiate_locale(accept, user_locale=user, tenant_default=tenant) == expected


def test_negotiation_falls_back_to_the_given_default() -> None:
    assert negotiate_locale("de", default="en") == "en"


def test_error_titles_are_translated_to_portuguese() -> None:
    assert translate("pt_BR", "Resource not found") == "Recurso não encontrado"
    assert translate("en", "Resource not found") == "Resource not found"
    assert translate("pt-BR", "Validation failed") == "Falha na validação"


def test_translation_formats_parameters_and_tolerates_missing_ones() -> None:
    text = translate("pt_BR", "This action requires one of these roles: {roles}.", roles="ADMIN, OWNER")
    assert text == "Esta ação exige um destes papéis: ADMIN, OWNER."
    assert translate("en", "Must be between {low} and {high}.", low=1) == "Must be between 1 and {high}."


def test_plural_forms_follow_each_language() -> None:
    singular, plural = "Try again in {count} second.", "Try again in {count} seconds."
    assert translate_plural("pt_BR", singular, plural, 1) == "Tente novamente em 1 segundo."
    assert translate_plural("pt_BR", singular, plural, 30) == "Tente novamente em 30 segundos."
    assert translate_plural("en", singular, plural, 1) == "Try again in 1 second."
    assert translate_plural("en", singular, plural, 0) == "Try again in 0 seconds."


def test_every_common_msgid_has_a_portuguese_translation() -> None:
    from babel.messages.pofile import read_po

    with (COMMON_CATALOG_DIR / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file)
    untranslated = [message.id for message in catalog if message.id and not message.string]
    assert untranslated == []
    assert len(catalog) > 40


def _write_catalog(directory: Path, locale: str, entries: dict[str, str]) -> Path:
    catalog = Catalog(locale=locale, domain="messages")
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    folder = directory / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "messages.po").open("wb") as po_file:
        write_po(po_file, catalog)
    return folder


def test_a_po_without_mo_is_compiled_in_memory_and_later_dirs_win(tmp_path: Path) -> None:
    base = tmp_path / "base"
    service = tmp_path / "service"
    _write_catalog(base, "pt_BR", {"Hello": "Olá", "Bye": "Tchau"})
    folder = _write_catalog(service, "pt_BR", {"Bye": "Até logo"})
    registry = CatalogRegistry([base, service])
    translations = registry.translations("pt_BR")
    assert translations.gettext("Hello") == "Olá"
    assert translations.gettext("Bye") == "Até logo"
    assert not (folder / "messages.mo").exists()
    assert registry.translations("en").gettext("Hello") == "Hello"


def test_registering_a_dir_refreshes_cached_translations(tmp_path: Path) -> None:
    registry = CatalogRegistry([])
    assert registry.translations("pt_BR").gettext("Hello") == "Hello"
    _write_catalog(tmp_path, "pt_BR", {"Hello": "Olá"})
    registry.register(tmp_path)
    assert registry.translations("pt_BR").gettext("Hello") == "Olá"


@pytest.mark.skipif(
    shutil.which("pybabel", path=str(Path(sys.executable).parent)) is None, reason="no pybabel"
)
def test_pybabel_compiles_the_catalogs_the_way_make_does(tmp_path: Path) -> None:
    target = tmp_path / "locale"
    shutil.copytree(COMMON_CATALOG_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    pybabel = str(Path(sys.executable).parent / "pybabel")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [pybabel, "compile", "-d", str(target), "-D", "messages", "--statistics"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "100%" in result.stderr + result.stdout
    compiled = target / "pt_BR" / "LC_MESSAGES" / "messages.mo"
    assert compiled.is_file()
    assert CatalogRegistry([target]).translations("pt_BR").gettext("Conflict") == "Conflito"


def test_babel_cfg_extracts_the_kernel_msgids(tmp_path: Path) -> None:
    pybabel = str(Path(sys.executable).parent / "pybabel")
    output = tmp_path / "messages.pot"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            pybabel,
            "extract",
            "-F",
            str(REPO_ROOT / "babel.cfg"),
            "-k",
            "N_",
            "-k",
            "translate:2",
            "-k",
            "translate_plural:2,3",
            "-o",
            str(output),
            str(REPO_ROOT / "api" / "common"),
        ],
        capture_output=True,
        check=True,
    )
    template = output.read_text()
    assert 'msgid "Authentication required"' in template
    assert 'msgid_plural "Try again in {count} seconds."' in template


def test_dates_and_numbers_follow_the_locale() -> None:
    moment = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert format_number(Decimal("1234.5"), "pt_BR") == "1.234,5"
    assert format_number(1234.5, "en") == "1,234.5"
    assert "mar." in format_datetime(moment, "pt_BR")
    assert format_datetime(moment, "en").startswith("Mar 5, 2026")
    assert "11:30" in format_datetime(moment, "pt_BR", timezone="America/Sao_Paulo")


def test_language_tag_is_the_http_spelling() -> None:
    assert language_tag("pt_BR") == "pt-BR"
    assert language_tag("en") == "en"
