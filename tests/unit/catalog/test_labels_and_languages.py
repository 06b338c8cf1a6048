"""Tags, frameworks and languages: the spellings people type and the keys they meet on."""

from __future__ import annotations

import pytest

from api.catalog.labels import InvalidLabelError, label_key, parse_label, unique_labels
from api.catalog.languages import KNOWN_LANGUAGES, OTHER, canonical_language

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "key", "display"),
    [
        (" Programação ", "programacao", "Programação"),
        ("PROGRAMAÇÃO", "programacao", "PROGRAMAÇÃO"),
        ("Programac\u0327a\u0303o", "programacao", "Programação"),
        ("machine   learning", "machine learning", "machine learning"),
        ("C#", "c#", "C#"),
        ("Node.js", "node.js", "Node.js"),
    ],
)
def test_labels_keep_the_display_and_match_on_the_key(typed: str, key: str, display: str) -> None:
    label = parse_label(typed)
    assert label.key == key
    assert label.display == display


@pytest.mark.parametrize("typed", ["", "   ", "a/b", "a\\b", "a,b", "tab\x07", "x" * 51, "\u0301"])
def test_invalid_labels_are_refused(typed: str) -> None:
    with pytest.raises(InvalidLabelError):
        parse_label(typed)


def test_fifty_characters_are_allowed() -> None:
    assert parse_label("é" * 50).key == "e" * 50


def test_the_first_spelling_of_a_key_wins() -> None:
    labels = unique_labels([parse_label("Segurança"), parse_label("seguranca"), parse_label("cli")])
    assert [label.display for label in labels] == ["Segurança", "cli"]
    assert label_key("ÁGIL") == label_key("agil")


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("py", "Python"),
        ("Python3", "Python"),
        ("js", "JavaScript"),
        ("ts", "TypeScript"),
        ("golang", "Go"),
        ("c#", "C#"),
        ("csharp", "C#"),
        ("  C++ ", "C++"),
        ("cpp", "C++"),
        ("RUST", "Rust"),
        ("outra", OTHER),
        ("other", OTHER),
    ],
)
def test_languages_accept_aliases(typed: str, canonical: str) -> None:
    assert canonical_language(typed) == canonical


def test_unknown_languages_are_none_and_every_canonical_name_maps_to_itself() -> None:
    assert canonical_language("Klingon") is None
    assert canonical_language("") is None
    for name in KNOWN_LANGUAGES:
        assert canonical_language(name) == name
        assert canonical_language(name.upper()) == name
    assert KNOWN_LANGUAGES[-1] == OTHER
